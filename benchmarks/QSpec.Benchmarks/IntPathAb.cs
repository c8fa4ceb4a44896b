using System.Diagnostics;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `intpathab [threads=2] [groupSize=32] [batches=20] [pathA=Avx512] [pathB=AvxVnni]`: the integer linear (W4A8, fp16-valued
/// scales as in GGUF Q4_0) through two CPU backends that differ only in their kernel path, on the TinyLlama-1.1B shapes
/// at M = 1, 2, 4, 8, each side's weights cycled over <see cref="LinearCase.ColdBytes"/> (read from memory), interleaved
/// batch by batch (A B, then B A) so both see the same machine load. Kernel only (activations quantized once). Both paths
/// are bitwise equal to the scalar reference, so a backend may pick either per call.
/// </summary>
/// <remarks>"A us" / "B us" are the best batches; "B/A med" is the median of the per-pair ratios, the number to read.</remarks>
public static class IntPathAb
{
    private static readonly float Scale = (float)(Half)0.01f;

    public static void Run(TextWriter o, int threads, int groupSize, int batches, CpuKernelPath pathA, CpuKernelPath pathB)
    {
        using var a = new CpuBackend(new CpuBackendOptions { MaxThreads = threads, Path = pathA });
        using var b = new CpuBackend(new CpuBackendOptions { MaxThreads = threads, Path = pathB });
        o.WriteLine($"intpathab: A = {a.Name}, B = {b.Name}; W4A8, G={groupSize}, {batches} interleaved batch pairs of ~2 ms");
        o.WriteLine($"{"N x K",-11} {"M",2} {"A us",8} {"B us",8} {"B/A best",8} {"B/A med",7}");
        foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
            foreach (int m in new[] { 1, 2, 4, 8 })
            {
                using var ca = new LinearCase(a, n, k, m, LinearKind.W4A8, groupSize, Scale);
                using var cb = new LinearCase(b, n, k, m, LinearKind.W4A8, groupSize, Scale);
                ca.TouchEveryCopy(); cb.TouchEveryCopy();
                for (int i = 0; i < 40; i++) { ca.Linear(); cb.Linear(); } // past tiered JIT
                int reps = Reps(cb.Linear);
                var ta = new double[batches]; var tb = new double[batches]; var ratios = new double[batches];
                for (int i = 0; i < batches; i++)
                {
                    if (i % 2 == 0) { ta[i] = Batch(ca.Linear, reps); tb[i] = Batch(cb.Linear, reps); }
                    else { tb[i] = Batch(cb.Linear, reps); ta[i] = Batch(ca.Linear, reps); }
                    ratios[i] = tb[i] / ta[i];
                }
                Array.Sort(ratios);
                o.WriteLine($"{n + "x" + k,-11} {m,2} {ta.Min(),8:F1} {tb.Min(),8:F1} {tb.Min() / ta.Min(),8:F3} {ratios[batches / 2],7:F3}");
            }
    }

    /// <summary>Calls per ~2 ms batch.</summary>
    private static int Reps(Action call)
    {
        var sw = Stopwatch.StartNew();
        int reps = 0;
        while (sw.Elapsed.TotalMilliseconds < 2 || reps < 2) { call(); reps++; }
        return reps;
    }

    /// <summary>Mean microseconds per call over <paramref name="reps"/> calls.</summary>
    private static double Batch(Action call, int reps)
    {
        long t = Stopwatch.GetTimestamp();
        for (int r = 0; r < reps; r++) call();
        return Stopwatch.GetElapsedTime(t).TotalMicroseconds / reps;
    }
}
