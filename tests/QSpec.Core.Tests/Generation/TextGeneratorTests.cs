using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;

namespace QSpec.Core.Tests.Generation;

/// <summary>Text-level generation on stories260K: text equals the decoded tokens, stop strings across tokens, echo, EOS.</summary>
public class TextGeneratorTests
{
    private static LlamaModel Load() => LlamaModel.Load(SharedData.DefaultModel, new ModelLoadOptions { Backend = BackendKind.Cpu });

    private static async Task<string> Collect(IAsyncEnumerable<string> pieces)
    {
        var parts = new List<string>();
        await foreach (var p in pieces) parts.Add(p);
        return string.Concat(parts);
    }

    [Fact]
    public async Task GreedyTextIsTheDecodedTokensOfPlainGeneration()
    {
        using var model = Load();
        using var session = model.CreateSession();
        var text = new TextGenerator(session);
        var options = new TextGenerationOptions { MaxTokens = 60 };
        var got = await Collect(text.GenerateTextAsync("Once upon a time", options));

        var prompt = model.Tokenizer!.Encode("Once upon a time", addBos: true);
        using var fresh = model.CreateSession();
        var ids = new Generator(fresh).Generate(prompt, new GenerationOptions { MaxTokens = 60, Mode = ExecutionMode.Fp32 }).ToArray();
        var expected = model.Tokenizer.Decode([.. prompt, .. ids])[model.Tokenizer.Decode(prompt).Length..];
        Assert.Equal(expected, got);
        Assert.Equal(ids, text.LastResult!.Tokens);
        Assert.Equal(got, text.LastResult.Text);
        Assert.Equal(got, text.GenerateText("Once upon a time", options)); // sync form, second call reuses the cache
        Assert.Equal(prompt.Count - 1, text.LastResult!.ReusedPromptTokens);
    }

    [Fact]
    public async Task AStopStringSpanningTwoTokensCutsTheTextBeforeIt()
    {
        using var model = Load();
        using var session = model.CreateSession();
        var text = new TextGenerator(session);
        var full = await Collect(text.GenerateTextAsync("Once upon a time", new TextGenerationOptions { MaxTokens = 80 }));
        var tokens = text.LastResult!.Tokens;
        // A stop string made of the last 2 characters of token 10's text and the first 2 of token 11's.
        var decoder = model.Tokenizer!.CreateStreamingDecoder();
        foreach (var id in model.Tokenizer.Encode("Once upon a time", addBos: true)) decoder.Append(id);
        var pieces = tokens.Select(decoder.Append).ToArray();
        int at = Enumerable.Range(8, 60).First(i => pieces[i].Length >= 2 && pieces[i + 1].Length >= 2);
        var stop = pieces[at][^2..] + pieces[at + 1][..2];

        var cut = await Collect(text.GenerateTextAsync("Once upon a time", new TextGenerationOptions { MaxTokens = 80, StopStrings = ["never appears", stop] }));
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], cut);
        Assert.Equal(FinishReason.StopString, text.LastResult!.FinishReason);
        Assert.True(text.LastResult.Tokens.Count < tokens.Count);
    }

    [Fact]
    public async Task EchoReturnsThePromptFirst()
    {
        using var model = Load();
        using var session = model.CreateSession();
        var text = new TextGenerator(session);
        var plain = await Collect(text.GenerateTextAsync("Lily was", new TextGenerationOptions { MaxTokens = 10 }));
        var echoed = await Collect(text.GenerateTextAsync("Lily was", new TextGenerationOptions { MaxTokens = 10, Echo = true }));
        Assert.Equal("Lily was" + plain, echoed);
    }

    [Fact]
    public async Task GenerationStopsAtTheModelsEndOfTextByDefault()
    {
        using var model = Load();
        using var session = model.CreateSession();
        var text = new TextGenerator(session);
        var stops = EndOfGeneration.Ids(model);
        Assert.Contains(model.Tokenizer!.EosId, stops);
        Assert.Contains(model.Tokenizer.BosId, stops);
        await Collect(text.GenerateTextAsync("", new TextGenerationOptions { MaxTokens = 500, StopTokens = [] }));
        var all = text.LastResult!.Tokens;
        int first = all.Select((t, i) => (t, i)).First(x => stops.Contains(x.t)).i; // stories260K ends its story with BOS
        await Collect(text.GenerateTextAsync("", new TextGenerationOptions { MaxTokens = 500 }));
        Assert.Equal(all.Take(first + 1), text.LastResult!.Tokens);
        Assert.Equal(FinishReason.StopToken, text.LastResult.FinishReason);
    }

    [Fact]
    public async Task QSpecTextEqualsW4A16Text()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        var tokenizer = QSpec.Tokenization.LlamaTextTokenizer.Load(SharedData.DefaultTokenizer);
        using var s1 = model.CreateSession();
        using var s2 = model.CreateSession();
        var spec = new TextGenerator(s1, tokenizer);
        var plain = new TextGenerator(s2, tokenizer);
        var a = await Collect(spec.GenerateTextAsync("The dog", new TextGenerationOptions { MaxTokens = 50 }));
        var b = await Collect(plain.GenerateTextAsync("The dog", new TextGenerationOptions { MaxTokens = 50, Mode = ExecutionMode.W4A16 }));
        Assert.Equal(b, a);
        Assert.NotNull(spec.LastResult!.Statistics);
        Assert.Null(plain.LastResult!.Statistics);
    }

    [Theory]
    [InlineData(new[] { "ab", "cd" }, new[] { "xa", "bc", "dy" }, "x")]
    [InlineData(new[] { "abc" }, new[] { "a", "b", "x", "abc" }, "abx")]
    [InlineData(new[] { "abc" }, new[] { "ab" }, "ab")]
    [InlineData(new[] { "b", "abc" }, new[] { "a", "bc" }, "")] // the earliest match wins: "abc" at 0
    public void StopStringMatcherHoldsBackOnlyPossibleStarts(string[] stops, string[] pieces, string expected)
    {
        var m = new StopStringMatcher(stops);
        var released = string.Concat(pieces.Select(m.Push)) + m.Flush();
        Assert.Equal(expected, released);
    }
}
