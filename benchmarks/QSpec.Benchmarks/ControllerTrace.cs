using System.Diagnostics;
using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Speculative;

namespace QSpec.Benchmarks;

/// <summary>
/// `controllertrace [generations=60] [tokens=32] [shape=tinyllama-1.1b] [acceptance=0.99] [k|auto] [batch=1]`: what `qspec bench` does for
/// QSpec (auto k, auto draft, synthetic acceptance) generation by generation, each beside a plain W4A16 generation, with
/// the draft controller's estimates after each: to catch the stretches where it drafts and loses. A fixed k (W4A8
/// draft) instead of auto, 0 included, calibrates the comparison.
/// </summary>
public static class ControllerTrace
{
    public static void Run(TextWriter o, int generations, int tokens, string shape, double acceptance, int? draftLength = null, int batch = 1)
    {
        using var model = LlamaModel.Create(SyntheticModel.Create(SyntheticModel.Shape(shape)), new CpuBackend(new CpuBackendOptions { MaxThreads = 2 }));
        int[] prompt = [1, 450, 4996, 17354, 1701, 432, 17204, 975];
        var prompts = Enumerable.Range(0, batch).Select(b => (IReadOnlyList<int>)prompt.Select((t, i) => i == 1 ? t + b : t).ToArray()).ToArray();
        var options = draftLength is int k ? new SpeculativeOptions { DraftLength = k, MaxTokens = tokens }
                                      : new SpeculativeOptions { DraftLength = 8, AutoDraftLength = true, AutoDraftMode = true, MaxTokens = tokens };
        var gen = new GenerationOptions { MaxTokens = tokens, Mode = ExecutionMode.W4A16 };
        double Plain()
        {
            if (batch > 1)
            {
                long t0 = Stopwatch.GetTimestamp();
                int total = BatchGenerator.Generate(model, prompts, gen).Tokens.Sum(t => t.Count);
                return total / Stopwatch.GetElapsedTime(t0).TotalSeconds;
            }
            using var session = model.CreateSession();
            long t = Stopwatch.GetTimestamp();
            int n = new Generator(session).Generate(prompt, gen).Count();
            return n / Stopwatch.GetElapsedTime(t).TotalSeconds;
        }
        (double Rate, SpeculativeStatistics Stats, DraftLengthController? Controller) Spec()
        {
            if (batch > 1)
            {
                long t0 = Stopwatch.GetTimestamp();
                var result = SyntheticAcceptance.GenerateBatch(model, prompts, options, acceptance);
                double rate = result.Tokens.Sum(t => t.Count) / Stopwatch.GetElapsedTime(t0).TotalSeconds;
                return (rate, result.Statistics!, DraftControllers.For(model, batch, options));
            }
            using var session = model.CreateSession();
            var d = new SpeculativeDecoder(session, options);
            long t = Stopwatch.GetTimestamp();
            int n = SyntheticAcceptance.Generate(d, prompt, acceptance).Count();
            return (n / Stopwatch.GetElapsedTime(t).TotalSeconds, d.Statistics, d.Controller);
        }
        for (int i = 0; i < 3; i++) { Plain(); Spec(); }
        o.WriteLine($"{shape}, {tokens} tokens per generation, acceptance {acceptance}; per generation: plain and QSpec tok/s (whole generations), QSpec steps, drafted tokens, accepted per step, then the controller's estimates");
        var ratios = new List<double>();
        for (int g = 0; g < generations; g++)
        {
            double plain = Plain();
            var (rate, stats, c) = Spec();
            ratios.Add(rate / plain);
            string est = c is null ? "" : string.Join(" ", c.DraftModes.Select(m => $"{m} a{c.AlphaOf(m):F3} c{c.DraftCostOf(m):F2}")) +
                " v " + string.Join(" ", Enumerable.Range(1, 4).Select(k => c.VerifyCost(k).ToString("F2"))) + $" est {c.EstimatedSpeedup:F2}";
            o.WriteLine($"{g,3} plain {plain,5:F1} qspec {rate,5:F1} ({rate / plain:F2}) steps {stats.Steps,2} drafted {stats.Drafted,2} acc {stats.MeanAcceptedLength:F2} | {est}");
        }
        ratios.Sort();
        o.WriteLine($"QSpec/plain per generation: median {ratios[ratios.Count / 2]:F3}, min {ratios[0]:F3}, max {ratios[^1]:F3}");
    }
}
