using System.Diagnostics;
using QSpec.Generation;
using QSpec.Inference;
using QSpec.Model;
using QSpec.Quantization;
using QSpec.Speculative;

namespace QSpec.Benchmarks;

/// <summary>
/// `stepcost [k=1] [tokens=256] [rounds=20]`: where a QSpec step's time goes on stories260K (per-channel RTN, as `qspec
/// bench` loads it), greedy from BOS at fixed k (W4A8 draft) against k = 0 and plain W4A16 decoding, alternated round
/// by round: per step, the draft forwards, the verify (forward + argmax) and the rest (acceptance, truncation, emit).
/// </summary>
public static class StepCost
{
    /// <summary>`stepcost loop MODE ROWS POSITION SECONDS`: only forwards of ROWS rows at POSITION, for a profiler.</summary>
    public static void Loop(TextWriter o, ExecutionMode mode, int rows, int position, double seconds)
    {
        using var model = LlamaModel.Create(Load());
        using var session = model.CreateSession();
        session.Prefill(Enumerable.Range(1, position).ToArray(), 0, ExecutionMode.W4A16);
        var batch = Enumerable.Repeat(5, rows).ToArray();
        var total = Stopwatch.StartNew();
        long n = 0;
        while (total.Elapsed.TotalSeconds < seconds) { session.Prefill(batch, position, mode); n++; }
        o.WriteLine($"{mode} x{rows} at {position}: {total.Elapsed.TotalSeconds / n * 1e6:F1} us per forward");
    }

    private static LlamaWeights Load() => ModelQuantizer.Quantize(ModelFiles.Read(QSpec.SharedData.DefaultModel).Weights,
        new QuantizerOptions { Method = QuantizationMethod.Rtn, GroupSize = 0, ClipSearch = false, Rotate = false }, null);

    public static void Run(TextWriter o, int k, int tokens, int rounds)
    {
        using var model = LlamaModel.Create(Load());
        using var session = model.CreateSession();
        int[] bos = [1];
        var fixedK = new SpeculativeOptions { DraftLength = k, DraftMode = ExecutionMode.W4A8, MaxTokens = tokens };
        var plainK = new SpeculativeOptions { DraftLength = 0, DraftMode = ExecutionMode.W4A8, MaxTokens = tokens };
        var gen = new GenerationOptions { MaxTokens = tokens, Mode = ExecutionMode.W4A16 };
        double Plain() { session.Reset(); long t = Stopwatch.GetTimestamp(); int n = new Generator(session).Generate(bos, gen).Count(); return Stopwatch.GetElapsedTime(t).TotalSeconds / n; }
        SpeculativeStatistics Spec(SpeculativeOptions opt) { session.Reset(); var d = new SpeculativeDecoder(session, opt); _ = d.Generate(bos).Count(); return d.Statistics; }
        for (int i = 0; i < 5; i++) { Plain(); Spec(fixedK); Spec(plainK); }
        var plain = new List<double>(); var sk = new List<SpeculativeStatistics>(); var s0 = new List<SpeculativeStatistics>();
        for (int r = 0; r < rounds; r++) { plain.Add(Plain()); sk.Add(Spec(fixedK)); s0.Add(Spec(plainK)); }
        static double Med(IEnumerable<double> v) { var a = v.OrderBy(x => x).ToArray(); return a[a.Length / 2]; }
        // One forward of r rows at position p (the cache filled before it), W4A16 and W4A8: how a step's parts grow with rows and context.
        foreach (int p in new[] { 16, 128, 256 })
        {
            session.Reset();
            session.Prefill(Enumerable.Range(1, p).ToArray(), 0, ExecutionMode.W4A16);
            var line = $"  forward us at position {p,3}:";
            foreach (var mode in new[] { ExecutionMode.W4A16, ExecutionMode.W4A8 })
                foreach (int r in new[] { 1, 2, 3, 4 })
                {
                    var rows = Enumerable.Repeat(5, r).ToArray();
                    var t = new double[200];
                    for (int i = 0; i < t.Length; i++) { long t0 = Stopwatch.GetTimestamp(); session.Prefill(rows, p, mode); t[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds; }
                    line += $" {mode}x{r} {Med(t) * 1e6:F1}";
                }
            o.WriteLine(line);
        }
        o.WriteLine($"stories260K RTN per channel, {tokens} tokens from BOS, {rounds} rounds (medians), backend {model.Backend.Name}");
        o.WriteLine($"  plain W4A16 generator: {Med(plain) * 1e6:F1} us/token");
        foreach (var (name, list) in new[] { ($"k = {k}", sk), ("k = 0", s0) })
        {
            double steps = list[0].Steps;
            o.WriteLine($"  {name}: {Med(list.Select(s => s.TotalTime.TotalSeconds / s.Tokens)) * 1e6:F1} us/token, {list[0].Tokens / steps:F2} tokens/step; per step us: " +
                        $"draft {Med(list.Select(s => s.DraftTime.TotalSeconds / s.Steps)) * 1e6:F1}, verify {Med(list.Select(s => s.VerifyTime.TotalSeconds / s.Steps)) * 1e6:F1}, " +
                        $"other {Med(list.Select(s => s.OtherTime.TotalSeconds / s.Steps)) * 1e6:F1}");
        }
    }
}
