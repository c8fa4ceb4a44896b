using System.Diagnostics;
using QSpec.Inference;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `halfforward [shape] [threads] [rounds]`: one-token W4A16 (and W4A8) decode forwards of a synthetic model (fp16-valued
/// scales, <see cref="SyntheticModel"/>) through two CPU backends that differ only in fp16 against fp32 scales (<see cref="CpuBackendOptions.HalfPrecisionScales"/> and <see cref="CpuBackendOptions.HalfPrecisionScalesW4A16"/> both on or both off),
/// sharing one weight set. Per round each backend times 9 forwards (the median) in alternating order (A B, then B A),
/// so drift and load fall on both; prints per round the ms and the ratio fp16/fp32, then the median ratio.
/// </summary>
public static class HalfForwardAb
{
    public static void Run(TextWriter o, string shape, int threads, int rounds)
    {
        var config = SyntheticModel.Shape(shape);
        var weights = SyntheticModel.Create(config);
        using var half = LlamaModel.Create(weights, new CpuBackend(new CpuBackendOptions { MaxThreads = threads, HalfPrecisionScales = true, HalfPrecisionScalesW4A16 = true }));
        using var full = LlamaModel.Create(weights, new CpuBackend(new CpuBackendOptions { MaxThreads = threads, HalfPrecisionScales = false, HalfPrecisionScalesW4A16 = false }));
        using var sh = half.CreateSession();
        using var sf = full.CreateSession();
        var context = Enumerable.Range(0, 64).Select(i => 1 + i % (config.VocabSize - 1)).ToArray();
        sh.Prefill(context, 0, ExecutionMode.W4A16);
        sf.Prefill(context, 0, ExecutionMode.W4A16);
        o.WriteLine($"{shape}, {threads} threads: one-token forward at position 64, median of 9 per round, fp16 vs fp32 scales");
        foreach (var mode in new[] { ExecutionMode.W4A16, ExecutionMode.W4A8 })
        {
            var ratios = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                double a, b;
                if (r % 2 == 0) { a = Median(sh, mode); b = Median(sf, mode); }
                else { b = Median(sf, mode); a = Median(sh, mode); }
                ratios.Add(a / b);
                o.WriteLine($"  {mode,-6} round {r + 1}: fp16 {a:F2} ms, fp32 {b:F2} ms, fp16/fp32 {a / b:F3}");
            }
            ratios.Sort();
            o.WriteLine($"  {mode,-6} median fp16/fp32 {ratios[ratios.Count / 2]:F3} over {rounds} rounds");
        }
    }

    /// <summary>Median ms of <paramref name="samples"/> one-token forwards at <paramref name="position"/> (after one untimed).</summary>
    internal static double Median(InferenceSession session, ExecutionMode mode, int position = 64, int samples = 9)
    {
        session.Prefill([5], position, mode); // warm-up
        var t = new double[samples];
        for (int i = 0; i < t.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            session.Prefill([5], position, mode);
            t[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(t);
        return t[t.Length / 2];
    }
}
