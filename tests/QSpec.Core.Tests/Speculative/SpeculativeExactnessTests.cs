using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Speculative;
using QSpec.Tokenization;

namespace QSpec.Core.Tests.Speculative;

/// <summary>QSpec against plain W4A16 on stories260K: token for token when greedy, in distribution when sampling.</summary>
public class SpeculativeExactnessTests
{
    [Fact]
    public void GreedyQSpecEqualsW4A16On50TinyStoriesPrompts()
    {
        var tokenizer = LlamaTextTokenizer.Load(SharedData.DefaultTokenizer);
        var paragraphs = Perplexity.ReadParagraphs(SharedData.TinyStoriesValid);
        // Prompts: the first 8 words of 50 evaluation paragraphs.
        var prompts = paragraphs.Take(50).Select(p => tokenizer.Encode(string.Join(' ', p.Split(' ').Take(8)), addBos: true).ToArray()).ToArray();
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var plain = model.CreateSession();
        using var spec = model.CreateSession();
        var decoder = new SpeculativeDecoder(spec, new SpeculativeOptions { DraftLength = 3, MaxTokens = 128 });
        var generator = new Generator(plain);
        long drafted = 0, accepted = 0;
        foreach (var prompt in prompts)
        {
            var expected = generator.Generate(prompt, new GenerationOptions { MaxTokens = 128, Mode = ExecutionMode.W4A16 }).ToArray();
            Assert.Equal(expected, decoder.Generate(prompt).ToArray());
            drafted += decoder.Statistics.Drafted;
            accepted += decoder.Statistics.Accepted;
        }
        Assert.InRange(accepted, 1, drafted - 1); // the W4A4 draft is neither useless nor identical to the verifier
    }

    /// <summary>
    /// The same on the AVX-512 table kernel with the denormal form off (<see cref="CpuBackendOptions.W4A16TableKernel"/>,
    /// as on a machine that pays for denormal operands), G = 32, on 12 prompts: the verify's (k+1)-row W4A16 calls give the bits
    /// of plain one-row decoding there too. On a machine without AVX-512 the option has no effect and this is the
    /// default path again.
    /// </summary>
    [Fact]
    public void GreedyQSpecEqualsW4A16OnTheTableKernel()
    {
        var tokenizer = LlamaTextTokenizer.Load(SharedData.DefaultTokenizer);
        var prompts = Perplexity.ReadParagraphs(SharedData.TinyStoriesValid).Skip(50).Take(12)
            .Select(p => tokenizer.Encode(string.Join(' ', p.Split(' ').Take(8)), addBos: true).ToArray()).ToArray();
        using var backend = new CpuBackend(new CpuBackendOptions { W4A16TableKernel = true, DenormalW4A16 = false });
        using var model = LlamaModel.Create(TestData.QuantizeRtn(TestData.Stories260K, groupSize: 32), backend); // G = 32: where the table kernel runs
        using var plain = model.CreateSession();
        using var spec = model.CreateSession();
        var decoder = new SpeculativeDecoder(spec, new SpeculativeOptions { DraftLength = 3, MaxTokens = 96 });
        var generator = new Generator(plain);
        foreach (var prompt in prompts)
            Assert.Equal(generator.Generate(prompt, new GenerationOptions { MaxTokens = 96, Mode = ExecutionMode.W4A16 }).ToArray(),
                         decoder.Generate(prompt).ToArray());
    }

    /// <summary>The sampling settings of <see cref="SampledQSpecMatchesTheW4A16DistributionOfTheNextTwoTokens"/>, by case name.</summary>
    private static SamplingOptions Settings(string name) => name switch
    {
        "top-k 4" => new() { Temperature = 1f, TopK = 4 },
        "min-p 0.05, temperature 2, top-k 6" => new() { Temperature = 2f, TopK = 6, MinP = 0.05f },
        "top-p 0.9, temperature 1.5, top-k 6" => new() { Temperature = 1.5f, TopP = 0.9f, TopK = 6 },
        "repetition, frequency and presence penalties" => new() { Temperature = 1f, TopK = 4, RepetitionPenalty = 1.5f, FrequencyPenalty = 0.8f, PresencePenalty = 0.6f, PenaltyWindow = 5 },
        // Bans the most likely first token and boosts the fifth.
        "logit bias" => new() { Temperature = 1f, TopK = 4, LogitBias = new Dictionary<int, float> { [TestData.Expected.Top5Ids[0]] = float.NegativeInfinity, [TestData.Expected.Top5Ids[4]] = 2f } },
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    [Theory]
    [InlineData("top-k 4")]
    [InlineData("min-p 0.05, temperature 2, top-k 6")]
    [InlineData("top-p 0.9, temperature 1.5, top-k 6")]
    [InlineData("repetition, frequency and presence penalties")]
    [InlineData("logit bias")]
    public void SampledQSpecMatchesTheW4A16DistributionOfTheNextTwoTokens(string settings)
    {
        // Exact W4A16 law of (x1, x2) after a fixed context under these settings; the penalties see the context and x1.
        var sampling = Settings(settings);
        int[] context = [TestData.Bos, .. TestData.Expected.Ids[..6]];
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var session = model.CreateSession();
        var target = JointLaw(session, context, sampling, ExecutionMode.W4A16);
        var draftLaw = JointLaw(session, context, sampling, ExecutionMode.W4A4);
        Assert.True(target.Count >= 4, $"only {target.Count} outcomes: the case does not exercise the filter");

        const int draws = 20_000;
        var counts = new Dictionary<(int, int), int>();
        using var spec = model.CreateSession();
        // Seeds drawn from one stream: System.Random's first outputs for consecutive seeds are correlated, which would
        // couple a draw's draft, acceptance and residual uniforms.
        var seeds = new Random(20241015);
        for (int n = 0; n < draws; n++)
        {
            var decoder = new SpeculativeDecoder(spec, new SpeculativeOptions { DraftLength = 3, MaxTokens = 2, StopTokens = [], Sampling = sampling.WithSeed(seeds.Next()) });
            var t = decoder.Generate(context).ToArray();
            counts[(t[0], t[1])] = counts.GetValueOrDefault((t[0], t[1])) + 1;
        }
        Assert.All(counts.Keys, k => Assert.True(target.ContainsKey(k), $"outcome {k} has zero W4A16 probability"));
        double critical = ChiSquareCritical001(target.Count - 1);
        Assert.True(ChiSquare(counts, target, draws) < critical, $"chi2 vs W4A16 = {ChiSquare(counts, target, draws):F1}, critical {critical:F1}, {target.Count} outcomes");
        // Power check: the same draws are clearly not distributed like the W4A4 draft itself.
        Assert.True(ChiSquare(counts, draftLaw, draws) > critical, $"chi2 vs W4A4 = {ChiSquare(counts, draftLaw, draws):F1}, critical {critical:F1}");
    }

    /// <summary>The 0.001 upper critical value of chi-square with <paramref name="df"/> degrees of freedom (Wilson-Hilferty; 37.7 at 15).</summary>
    private static double ChiSquareCritical001(int df)
    {
        const double z = 3.0902; // the standard normal's 0.999 quantile
        double a = 2.0 / (9 * df);
        return df * Math.Pow(1 - a + z * Math.Sqrt(a), 3);
    }

    private static Dictionary<(int, int), double> JointLaw(InferenceSession s, int[] context, SamplingOptions sampling, ExecutionMode mode)
    {
        var shape = new Sampler(sampling);
        int v = s.Model.Config.VocabSize;
        var p1 = new float[v];
        shape.ComputeProbabilities(s.Forward(context, 0, mode).AsSpan((context.Length - 1) * v, v), p1, context);
        var law = new Dictionary<(int, int), double>();
        var p2 = new float[v];
        for (int a = 0; a < v; a++)
        {
            if (p1[a] == 0) continue;
            shape.ComputeProbabilities(s.Forward([a], context.Length, mode), p2, [.. context, a]);
            for (int b = 0; b < v; b++) if (p2[b] > 0) law[(a, b)] = (double)p1[a] * p2[b];
        }
        return law;
    }

    private static double ChiSquare(Dictionary<(int, int), int> counts, Dictionary<(int, int), double> law, int draws)
    {
        double chi = 0;
        foreach (var (k, p) in law)
        {
            double expected = Math.Max(p, 1e-9) * draws, observed = counts.GetValueOrDefault(k);
            chi += (observed - expected) * (observed - expected) / expected;
        }
        return chi;
    }
}
