using QSpec.Generation;
using QSpec.Inference;
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
        var paragraphs = Perplexity.ReadParagraphs(SharedData.PathOf("data", "tinystories-valid", "tinystories_valid_head.txt"));
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

    [Fact]
    public void SampledQSpecMatchesTheW4A16DistributionOfTheNextTwoTokens()
    {
        // Exact W4A16 law of (x1, x2) after a fixed context, with top-k 4 at temperature 1: 16 outcomes.
        var sampling = new SamplingOptions { Temperature = 1f, TopK = 4 };
        int[] context = [TestData.Bos, .. TestData.Expected.Ids[..6]];
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var session = model.CreateSession();
        var target = JointLaw(session, context, sampling, ExecutionMode.W4A16);
        var draftLaw = JointLaw(session, context, sampling, ExecutionMode.W4A4);

        const int draws = 20_000;
        var counts = new Dictionary<(int, int), int>();
        using var spec = model.CreateSession();
        for (int n = 0; n < draws; n++)
        {
            var decoder = new SpeculativeDecoder(spec, new SpeculativeOptions
            {
                DraftLength = 3, MaxTokens = 2, Sampling = new SamplingOptions { Temperature = 1f, TopK = 4, Seed = n },
            });
            var t = decoder.Generate(context).ToArray();
            counts[(t[0], t[1])] = counts.GetValueOrDefault((t[0], t[1])) + 1;
        }
        Assert.All(counts.Keys, k => Assert.True(target.ContainsKey(k), $"outcome {k} has zero W4A16 probability"));
        // Chi-square with 15 degrees of freedom: the 0.001 critical value is 37.70.
        const double Critical = 37.70;
        Assert.True(ChiSquare(counts, target, draws) < Critical, $"chi2 vs W4A16 = {ChiSquare(counts, target, draws):F1}");
        // Power check: the same draws are clearly not distributed like the W4A4 draft itself.
        Assert.True(ChiSquare(counts, draftLaw, draws) > Critical, $"chi2 vs W4A4 = {ChiSquare(counts, draftLaw, draws):F1}");
    }

    private static Dictionary<(int, int), double> JointLaw(InferenceSession s, int[] context, SamplingOptions sampling, ExecutionMode mode)
    {
        var shape = new Sampler(sampling);
        int v = s.Model.Config.VocabSize;
        var p1 = new float[v];
        shape.ComputeProbabilities(s.Forward(context, 0, mode).AsSpan((context.Length - 1) * v, v), p1);
        var law = new Dictionary<(int, int), double>();
        var p2 = new float[v];
        for (int a = 0; a < v; a++)
        {
            if (p1[a] == 0) continue;
            shape.ComputeProbabilities(s.Forward([a], context.Length, mode), p2);
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
