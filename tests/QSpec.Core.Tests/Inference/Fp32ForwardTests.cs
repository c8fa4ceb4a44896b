using QSpec.Generation;
using QSpec.Inference;

namespace QSpec.Core.Tests.Inference;

public class Fp32ForwardTests
{
    private const float LogitTolerance = 1e-3f;

    [Fact]
    public void GreedyFromBosMatchesExpected256Tokens()
    {
        using var model = TestData.CreateModel();
        using var session = model.CreateSession();
        var ids = new Generator(session).Generate([TestData.Bos], new GenerationOptions { MaxTokens = 256, Mode = ExecutionMode.Fp32 }).ToArray();
        Assert.Equal(TestData.Expected.Ids, ids);
    }

    [Fact]
    public void FirstStepTop5LogitsMatch()
    {
        using var model = TestData.CreateModel();
        using var session = model.CreateSession();
        var logits = session.Forward([TestData.Bos], 0, ExecutionMode.Fp32);
        var top5 = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).Take(5).ToArray();
        Assert.Equal(TestData.Expected.Top5Ids, top5);
        for (int i = 0; i < 5; i++) Assert.InRange(logits[top5[i]], TestData.Expected.Top5Logits[i] - LogitTolerance, TestData.Expected.Top5Logits[i] + LogitTolerance);
    }

    [Fact]
    public void PromptContinuationFollowsTheGreedyPath()
    {
        // Feeding the first 20 expected tokens as a prompt must continue with the expected tokens 21..40.
        var expected = TestData.Expected.Ids;
        using var model = TestData.CreateModel();
        using var session = model.CreateSession();
        int[] prompt = [TestData.Bos, .. expected[..20]];
        var ids = new Generator(session).Generate(prompt, new GenerationOptions { MaxTokens = 20, Mode = ExecutionMode.Fp32 }).ToArray();
        Assert.Equal(expected[20..40], ids);
    }

    [Fact]
    public void MultiTokenForwardEqualsSingleTokenForwards()
    {
        var tokens = new[] { TestData.Bos }.Concat(TestData.Expected.Ids[..9]).ToArray();
        using var model = TestData.CreateModel();
        using var batched = model.CreateSession();
        using var single = model.CreateSession();
        var all = batched.Forward(tokens, 0, ExecutionMode.Fp32);
        int v = model.Config.VocabSize;
        for (int i = 0; i < tokens.Length; i++)
            Assert.Equal(all.AsSpan(i * v, v).ToArray(), single.Forward([tokens[i]], i, ExecutionMode.Fp32));
    }

    [Fact]
    public void GenerationStopsAtTheContextEndAndAnOverlongPromptThrows()
    {
        // Generation stops at the context end rather than throwing (sessions' contract); a prompt that does not fit throws.
        using var model = TestData.CreateModel();
        using var session = model.CreateSession();
        var prompt = Enumerable.Repeat(TestData.Bos, 500).ToArray();
        var generated = new Generator(session).Generate(prompt, new GenerationOptions { MaxTokens = 20, StopTokens = [] }).ToArray();
        Assert.InRange(generated.Length, 1, 512 - 500 + 1); // the last token needs no cache slot
        var e = Assert.ThrowsAny<ArgumentException>(() => new Generator(session).Generate(Enumerable.Repeat(TestData.Bos, 600).ToArray(), new GenerationOptions { MaxTokens = 1 }).ToArray());
        Assert.Contains("512", e.Message);
    }

    [Fact]
    public void SeededSamplingIsReproducible()
    {
        using var model = TestData.CreateModel();
        using var session = model.CreateSession();
        var options = new GenerationOptions { MaxTokens = 40, Sampling = new SamplingOptions { Temperature = 1f, TopP = 0.9f, TopK = 40, Seed = 7 } };
        var a = new Generator(session).Generate([TestData.Bos], options).ToArray();
        var b = new Generator(session).Generate([TestData.Bos], options).ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(TestData.Expected.Ids[..40], a);
    }
}
