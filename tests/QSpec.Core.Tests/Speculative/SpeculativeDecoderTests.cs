using QSpec.Generation;
using QSpec.Inference;
using QSpec.Speculative;

namespace QSpec.Core.Tests.Speculative;

public class SpeculativeDecoderTests
{
    private static int[][] Prompts(int count) => Enumerable.Range(0, count)
        .Select(i => new[] { TestData.Bos }.Concat(TestData.Expected.Ids.Skip(i * 3).Take(1 + i % 5)).ToArray()).ToArray();

    private static int[] PlainW4A16(InferenceSession s, int[] prompt, int maxTokens)
        => new Generator(s).Generate(prompt, new GenerationOptions { MaxTokens = maxTokens, Mode = ExecutionMode.W4A16 }).ToArray();

    [Theory]
    [InlineData(ExecutionMode.W4A4, 3)]
    [InlineData(ExecutionMode.W4A8, 5)]
    [InlineData(ExecutionMode.W4A4, 0)]
    public void GreedyQSpecEqualsPlainW4A16(ExecutionMode draft, int k)
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var plain = model.CreateSession();
        using var spec = model.CreateSession();
        var decoder = new SpeculativeDecoder(spec, new SpeculativeOptions { DraftLength = k, DraftMode = draft, MaxTokens = 96 });
        foreach (var prompt in Prompts(4))
            Assert.Equal(PlainW4A16(plain, prompt, 96), decoder.Generate(prompt).ToArray());
        var st = decoder.Statistics;
        Assert.Equal(96, st.Tokens);
        Assert.InRange(st.Accepted, 0, st.Drafted);
        if (k > 0) Assert.True(st.Accepted > 0, "a sane draft accepts something");
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(1, 3)]
    [InlineData(4, 0)]
    [InlineData(4, 2)]
    public void FirstTokenComesFromThePrefill_NotFromAStepOfItsOwn(int batch, int k)
    {
        // The prompt's last token runs in the prefill and the first token is read from its logits, as in Generator; a
        // step of its own for that token cost one more forward (a whole weight pass) per generation. At k = 0 every
        // later step emits one token, so N tokens take N − 1 steps per sequence.
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var plain = model.CreateSession();
        var prompts = Prompts(batch);
        var options = new SpeculativeOptions { DraftLength = k, MaxTokens = 24 };
        var result = BatchGenerator.Generate(model, prompts, options);
        for (int b = 0; b < batch; b++) Assert.Equal(PlainW4A16(plain, prompts[b], 24), result.Tokens[b]);
        var st = result.Statistics!;
        Assert.Equal(batch * 24, st.Tokens);
        if (k == 0) Assert.Equal(batch * 23, st.Steps);
        else Assert.True(st.Steps < batch * 24, $"{st.Steps} steps");

        // MaxTokens = 1: the first token alone, with no step.
        var one = BatchGenerator.Generate(model, prompts, new SpeculativeOptions { DraftLength = k, MaxTokens = 1 });
        Assert.Equal(0, one.Statistics!.Steps);
        for (int b = 0; b < batch; b++) Assert.Equal([result.Tokens[b][0]], one.Tokens[b]);
    }

    [Fact]
    public void AutoDraftLengthKeepsGreedyExactness()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var plain = model.CreateSession();
        using var spec = model.CreateSession();
        var decoder = new SpeculativeDecoder(spec, new SpeculativeOptions { AutoDraftLength = true, MaxTokens = 120 });
        var prompt = Prompts(1)[0];
        Assert.Equal(PlainW4A16(plain, prompt, 120), decoder.Generate(prompt).ToArray());
        Assert.NotNull(decoder.Controller);
    }

    [Fact]
    public void BatchOfSequencesEqualsEachAlone()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var plain = model.CreateSession();
        var prompts = Prompts(5);
        var result = BatchGenerator.Generate(model, prompts, new SpeculativeOptions { MaxTokens = 40 });
        for (int b = 0; b < prompts.Length; b++) Assert.Equal(PlainW4A16(plain, prompts[b], 40), result.Tokens[b]);
        Assert.Equal(5 * 40, result.Statistics!.Tokens);
    }

    [Fact]
    public void CancellationLeavesTheSessionUsable()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var plain = model.CreateSession();
        using var spec = model.CreateSession();
        var decoder = new SpeculativeDecoder(spec, new SpeculativeOptions { MaxTokens = 60 });
        using var cts = new CancellationTokenSource();
        var got = new List<int>();
        Assert.ThrowsAny<OperationCanceledException>(() =>
        {
            foreach (int t in decoder.Generate(Prompts(1)[0], cts.Token)) { got.Add(t); if (got.Count >= 5) cts.Cancel(); }
        });
        // Every emitted token but the newest has been run through the model (the prompt's last token and the accepted
        // drafts are cached; the newest is pending), so the cache holds exactly these positions.
        Assert.Equal(Prompts(1)[0].Length - 1 + got.Count, spec.Length);
        Assert.Equal(PlainW4A16(plain, Prompts(2)[1], 60), decoder.Generate(Prompts(2)[1]).ToArray());
    }

    [Fact]
    public async Task AsyncStreamEqualsSyncStream()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var spec = model.CreateSession();
        var decoder = new SpeculativeDecoder(spec, new SpeculativeOptions { MaxTokens = 30 });
        var sync = decoder.Generate(Prompts(1)[0]).ToArray();
        var list = new List<int>();
        await foreach (var t in decoder.GenerateAsync(Prompts(1)[0])) list.Add(t);
        Assert.Equal(sync, list);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(17)]
    public void DraftLengthOutOfRangeThrows(int k)
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var s = model.CreateSession();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SpeculativeDecoder(s, new SpeculativeOptions { DraftLength = k }));
        Assert.Equal("DraftLength", e.ParamName);
    }

    [Fact]
    public void EmptyBatchAndMissingModeAndLongPromptThrow()
    {
        using var q = LlamaModel.Create(TestData.Stories260KInt4);
        Assert.Throws<ArgumentOutOfRangeException>(() => BatchGenerator.Generate(q, [], new SpeculativeOptions()));
        using var fp32 = LlamaModel.Create(TestData.Stories260K);
        using var s = fp32.CreateSession();
        Assert.Throws<ArgumentException>(() => new SpeculativeDecoder(s, new SpeculativeOptions()));
        using var qs = q.CreateSession();
        var d = new SpeculativeDecoder(qs, new SpeculativeOptions { MaxTokens = 100 });
        Assert.Throws<ArgumentException>(() => d.Generate(Enumerable.Repeat(1, q.Config.SeqLen + 1).ToArray()));
    }
}

public class BatchGeneratorTests
{
    [Theory]
    [InlineData(ExecutionMode.W4A16)]
    [InlineData(ExecutionMode.W4A4)]
    public void BatchedPlainGenerationEqualsEachAlone(ExecutionMode mode)
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var s = model.CreateSession();
        int[][] prompts = [[TestData.Bos], [TestData.Bos, 403, 407], [TestData.Bos, 261, 378, 432, 383]];
        var options = new GenerationOptions { MaxTokens = 30, Mode = mode };
        var batch = BatchGenerator.Generate(model, prompts, options).Tokens;
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(new Generator(s).Generate(prompts[i], options).ToArray(), batch[i]);
    }
}
