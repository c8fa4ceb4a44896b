using QSpec.Generation;
using QSpec.Inference;
using QSpec.Speculative;

namespace QSpec.Core.Tests.Generation;

/// <summary>Sampler and generation inputs at their edges: tiny temperatures, infinite or empty logits, top-p exactness.</summary>
public sealed class SamplerEdgeCaseTests
{
    private static Sampler Make(float temperature, int topK = 0, float topP = 1f, int seed = 5) =>
        new(new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP, Seed = seed });

    [Theory]
    [InlineData(float.Epsilon)]
    [InlineData(1e-39f)]
    [InlineData(2.9e-39f)]
    [InlineData(1e-30f)]
    public void TinyPositiveTemperatureIsOneHotAtTheArgmax(float temperature)
    {
        float[] logits = [0.5f, 3f, -1f, 2.999f, 3f];
        var p = new float[logits.Length];
        var sampler = Make(temperature);
        sampler.ComputeProbabilities(logits, p);
        Assert.All(p, x => Assert.False(float.IsNaN(x)));
        // Ids 1 and 4 tie at the max: each gets half; everything else none.
        Assert.Equal([0f, 0.5f, 0f, 0f, 0.5f], p);
        for (int i = 0; i < 20; i++) Assert.Contains(sampler.Sample(logits), new[] { 1, 4 });
    }

    [Fact]
    public void TinyTemperatureGenerationIsTheGreedyOutput()
    {
        using var model = TestData.CreateModel();
        using var session = model.CreateSession();
        var generator = new Generator(session);
        var greedy = generator.Generate([TestData.Bos], new GenerationOptions { MaxTokens = 24 }).ToArray();
        var tiny = generator.Generate([TestData.Bos], new GenerationOptions
        {
            MaxTokens = 24, Sampling = new SamplingOptions { Temperature = 1e-39f, Seed = 3 },
        }).ToArray();
        Assert.Equal(TestData.Expected.Ids[..24], greedy);
        Assert.Equal(greedy, tiny);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.8f)]
    public void EmptyLogitsThrow(float temperature)
    {
        var sampler = Make(temperature);
        Assert.Throws<ArgumentException>(() => sampler.Sample([]));
        Assert.Throws<ArgumentException>(() => sampler.ComputeProbabilities([], []));
    }

    [Fact]
    public void PositiveInfinityLogitsShareAllTheProbability()
    {
        float[] logits = [1f, float.PositiveInfinity, 2f, float.NegativeInfinity, float.PositiveInfinity, 0f];
        var p = new float[logits.Length];
        Make(0.7f).ComputeProbabilities(logits, p);
        Assert.Equal([0f, 0.5f, 0f, 0f, 0.5f, 0f], p);
        float[] one = [1f, 2f, float.PositiveInfinity, 3f];
        var sampler = Make(1f);
        for (int i = 0; i < 20; i++) Assert.Equal(2, sampler.Sample(one));
    }

    [Fact]
    public void NaNOrAllNegativeInfinityLogitsThrowWhenSampling()
    {
        Assert.Throws<ArgumentException>(() => Make(1f).Sample([1f, float.NaN, 2f]));
        Assert.Throws<ArgumentException>(() => Make(1f).Sample([float.NegativeInfinity, float.NegativeInfinity]));
    }

    /// <summary>
    /// Probabilities 0.05, 0.4, 0.1, 0.25, 0.2 (ids 0..4; logits are their logs, T = 1). Sorted: 1 (0.4), 3 (0.25),
    /// 4 (0.2), 2 (0.1), 0 (0.05). The nucleus is the shortest sorted prefix whose mass reaches p; it is renormalized.
    /// </summary>
    [Theory]
    [InlineData(0.3f, 0, new[] { 0f, 1f, 0f, 0f, 0f })]
    [InlineData(0.4f, 0, new[] { 0f, 1f, 0f, 0f, 0f })]
    [InlineData(0.5f, 0, new[] { 0f, 0.4f / 0.65f, 0f, 0.25f / 0.65f, 0f })]
    [InlineData(0.8f, 0, new[] { 0f, 0.4f / 0.85f, 0f, 0.25f / 0.85f, 0.2f / 0.85f })]
    [InlineData(0.9f, 0, new[] { 0f, 0.4f / 0.95f, 0.1f / 0.95f, 0.25f / 0.95f, 0.2f / 0.95f })]
    [InlineData(1f, 0, new[] { 0.05f, 0.4f, 0.1f, 0.25f, 0.2f })]
    [InlineData(0.9f, 2, new[] { 0f, 0.4f / 0.65f, 0f, 0.25f / 0.65f, 0f })]
    [InlineData(0.5f, 1, new[] { 0f, 1f, 0f, 0f, 0f })]
    public void TopPKeepsTheSmallestNucleusAndRenormalizes(float topP, int topK, float[] expected)
    {
        float[] probs = [0.05f, 0.4f, 0.1f, 0.25f, 0.2f];
        var logits = probs.Select(x => MathF.Log(x)).ToArray();
        var p = new float[5];
        var sampler = Make(1f, topK, topP);
        sampler.ComputeProbabilities(logits, p);
        for (int i = 0; i < 5; i++) Assert.Equal(expected[i], p[i], 1e-5f);

        // The draws follow it: ids outside the nucleus never appear, the rest within 4 standard errors.
        const int draws = 20000;
        var counts = new int[5];
        for (int i = 0; i < draws; i++) counts[sampler.Sample(logits)]++;
        for (int i = 0; i < 5; i++)
        {
            if (expected[i] == 0f) { Assert.Equal(0, counts[i]); continue; }
            double se = Math.Sqrt(expected[i] * (1 - expected[i]) / draws);
            Assert.InRange(counts[i] / (double)draws, expected[i] - 4 * se - 1e-9, expected[i] + 4 * se + 1e-9);
        }
    }

    [Fact]
    public void NullStopTokensMeanTheModelsEndOfGenerationIds()
    {
        // StopTokens = null is the documented default (EndOfGeneration.Ids): a model without a tokenizer has none.
        using var model = TestData.CreateModel();
        using var session = model.CreateSession();
        var generator = new Generator(session);
        Assert.Equal(5, generator.Generate([TestData.Bos], new GenerationOptions { StopTokens = null, MaxTokens = 5 }).Count());
        Assert.Empty(new GenerationOptions().ResolveStopTokens(model));
        new SpeculativeOptions { StopTokens = null }.Validate();
    }

    [Fact]
    public void PerplexityRejectsAnOutOfRangeLastToken()
    {
        using var model = TestData.CreateModel();
        using var session = model.CreateSession();
        Assert.Throws<ArgumentOutOfRangeException>(() => Perplexity.Evaluate(session, [[TestData.Bos, 300, 512]], ExecutionMode.Fp32));
        Assert.Throws<ArgumentOutOfRangeException>(() => Perplexity.Evaluate(session, [[TestData.Bos, 300, -1]], ExecutionMode.Fp32));
    }
}
