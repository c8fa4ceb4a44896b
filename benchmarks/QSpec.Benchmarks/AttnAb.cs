using QSpec.Inference;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `attnab [shape] [threads] [rounds] [positions]`: one-token W4A16 and W4A8 decode forwards of a synthetic model at
/// each context position, through two CPU backends that differ only in attention kept on the calling thread (A,
/// <see cref="CpuBackendOptions.SerialAttention"/>) against split over the threads by (row, KV head) (B, the default),
/// sharing one weight set. Per round each side times 11 forwards (the median), alternating A B / B A; prints the mean
/// ms of each side and the median per-round ratio B/A. Both sides compute the same bits.
/// </summary>
public static class AttnAb
{
    public static void Run(TextWriter o, string shape, int threads, int rounds, int[] positions)
    {
        var config = SyntheticModel.Shape(shape);
        var weights = SyntheticModel.Create(config);
        using var serial = LlamaModel.Create(weights, new CpuBackend(new CpuBackendOptions { MaxThreads = threads, SerialAttention = true }));
        using var split = LlamaModel.Create(weights, new CpuBackend(new CpuBackendOptions { MaxThreads = threads }));
        using var sa = serial.CreateSession();
        using var sb = split.CreateSession();
        o.WriteLine($"attnab: {shape}, {threads} threads, A = serial attention, B = split over the threads; one-token forward at each position");
        foreach (int pos in positions)
        {
            var context = Enumerable.Range(0, pos).Select(i => 1 + i % (config.VocabSize - 1)).ToArray();
            sa.Prefill(context, 0, ExecutionMode.W4A16);
            sb.Prefill(context, 0, ExecutionMode.W4A16);
            foreach (var mode in new[] { ExecutionMode.W4A16, ExecutionMode.W4A8 })
            {
                var ratios = new List<double>();
                double ta = 0, tb = 0;
                for (int r = 0; r < rounds; r++)
                {
                    double a, b;
                    if (r % 2 == 0) { a = HalfForwardAb.Median(sa, mode, pos, 11); b = HalfForwardAb.Median(sb, mode, pos, 11); }
                    else { b = HalfForwardAb.Median(sb, mode, pos, 11); a = HalfForwardAb.Median(sa, mode, pos, 11); }
                    ratios.Add(b / a); ta += a; tb += b;
                }
                ratios.Sort();
                o.WriteLine($"  position {pos,5} {mode,-6} A {ta / rounds,6:F2} ms  B {tb / rounds,6:F2} ms  median B/A {ratios[ratios.Count / 2]:F3}");
            }
        }
    }
}
