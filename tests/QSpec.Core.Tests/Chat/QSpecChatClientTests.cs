using Microsoft.Extensions.AI;
using QSpec.Chat;
using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Speculative;
using QSpec.Tokenization;

namespace QSpec.Core.Tests.Chat;

/// <summary>QSpecChatClient through the IChatClient interface, on stories260K (plain completion format: no template).</summary>
public class QSpecChatClientTests
{
    private static readonly QSpecChatClientOptions s_cpu = new() { Backend = BackendKind.Cpu, MaxOutputTokens = 40 };

    private static async Task<string> Stream(IChatClient client, IEnumerable<ChatMessage> messages, ChatOptions? options = null)
    {
        var parts = new List<string>();
        await foreach (var u in client.GetStreamingResponseAsync(messages, options)) parts.Add(u.Text);
        return string.Concat(parts);
    }

    [Fact]
    public async Task TwoTurnsReuseTheCacheAndEqualAFreshClientAndTheStreamingText()
    {
        using IChatClient chat = new QSpecChatClient(SharedData.DefaultModel, s_cpu);
        List<ChatMessage> history = [new(ChatRole.User, "Once upon a time")];
        var first = await chat.GetResponseAsync(history, new ChatOptions { Temperature = 0 });
        Assert.False(string.IsNullOrWhiteSpace(first.Text));
        Assert.Equal(0, first.Usage!.CachedInputTokenCount);
        history.AddMessages(first);
        history.Add(new ChatMessage(ChatRole.User, "Then the dog"));
        var second = await chat.GetResponseAsync(history, new ChatOptions { Temperature = 0 });

        // The second prompt starts with the first prompt and reply: all of the first prompt's tokens are reused.
        var client = (QSpecChatClient)chat;
        var firstPromptTokens = (int)first.Usage.InputTokenCount!;
        Assert.InRange((int)second.Usage!.CachedInputTokenCount!, firstPromptTokens, (int)second.Usage.InputTokenCount! - 1);
        Assert.Equal(client.LastResult!.ReusedPromptTokens, second.Usage.CachedInputTokenCount);

        using IChatClient fresh = new QSpecChatClient(SharedData.DefaultModel, s_cpu);
        Assert.Equal(second.Text, await Stream(fresh, history, new ChatOptions { Temperature = 0 }));
        Assert.Equal("fp32", client.ModeName); // a float model runs fp32 by default
        Assert.Equal(ChatTemplateFamily.Plain, client.Format.Family);
    }

    [Fact]
    public async Task QSpecModeReportsUsageStatisticsAndServices()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        var tokenizer = LlamaTextTokenizer.Load(SharedData.DefaultTokenizer);
        using var chat = new QSpecChatClient(model, new QSpecChatClientOptions { Tokenizer = tokenizer, DraftLength = 3 });
        Assert.Equal("qspec", chat.ModeName);
        var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "The cat")], new ChatOptions { MaxOutputTokens = 30 });
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(30, response.Usage!.OutputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount + 30, response.Usage.TotalTokenCount);
        var stats = Assert.IsType<SpeculativeStatistics>(chat.GetService(typeof(SpeculativeStatistics)));
        Assert.Equal(stats.AcceptanceRate, response.AdditionalProperties!["qspec.acceptance_rate"]);
        Assert.Equal(stats.MeanAcceptedLength, response.AdditionalProperties["qspec.mean_accepted_length"]);
        Assert.Same(model, chat.GetService(typeof(LlamaModel)));
        Assert.Equal("QSpec.NET", chat.GetService<ChatClientMetadata>()!.ProviderName);

        // Same text as plain W4A16 decoding.
        using var w4a16 = new QSpecChatClient(model, new QSpecChatClientOptions { Tokenizer = tokenizer, Mode = "w4a16" });
        Assert.Equal(response.Text, (await w4a16.GetResponseAsync([new ChatMessage(ChatRole.User, "The cat")], new ChatOptions { MaxOutputTokens = 30 })).Text);
    }

    [Fact]
    public async Task StopSequencesAndSeededSamplingAreHonoured()
    {
        using var chat = new QSpecChatClient(SharedData.DefaultModel, s_cpu);
        ChatMessage[] prompt = [new(ChatRole.User, "Once upon a time")];
        var full = (await chat.GetResponseAsync(prompt)).Text;
        var stop = full.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3];
        var cut = await chat.GetResponseAsync(prompt, new ChatOptions { StopSequences = [stop] });
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], cut.Text);
        Assert.Equal(ChatFinishReason.Stop, cut.FinishReason);

        var sampled = new ChatOptions { Temperature = 1f, TopK = 20, TopP = 0.9f, Seed = 7 };
        var a = (await chat.GetResponseAsync(prompt, sampled)).Text;
        Assert.Equal(a, (await chat.GetResponseAsync(prompt, sampled)).Text);
    }

    [Fact]
    public async Task CancellationStopsTheStreamAndLeavesTheClientUsable()
    {
        using var chat = new QSpecChatClient(SharedData.DefaultModel, s_cpu);
        ChatMessage[] prompt = [new(ChatRole.User, "Once upon a time")];
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in chat.GetStreamingResponseAsync(prompt, new ChatOptions { MaxOutputTokens = 200 }, cts.Token))
                if (++seen == 3) cts.Cancel();
        });
        Assert.Equal(3, seen);
        using var fresh = new QSpecChatClient(SharedData.DefaultModel, s_cpu);
        Assert.Equal((await fresh.GetResponseAsync(prompt)).Text, (await chat.GetResponseAsync(prompt)).Text);
    }

    [Fact]
    public void BadOptionsThrowNamingTheOption()
    {
        Assert.Equal("Mode", Assert.Throws<ArgumentOutOfRangeException>(() => new QSpecChatClient(SharedData.DefaultModel, new QSpecChatClientOptions { Mode = "turbo" })).ParamName);
        Assert.Equal("Mode", Assert.Throws<ArgumentException>(() => new QSpecChatClient(SharedData.DefaultModel, new QSpecChatClientOptions { Mode = "qspec", Backend = BackendKind.Cpu })).ParamName);
        Assert.Equal("DraftBits", Assert.Throws<ArgumentOutOfRangeException>(() => new QSpecChatClient(SharedData.DefaultModel, new QSpecChatClientOptions { DraftBits = 3 })).ParamName);
        Assert.Throws<FileNotFoundException>(() => new QSpecChatClient("/nonexistent/model.gguf"));
    }
}
