using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `intpathab [threads=2] [groupSize=32] [batches=20] [pathA=Avx512] [pathB=AvxVnni]`: the integer linear (W4A8, fp16-valued
/// scales as in GGUF Q4_0) through two CPU backends that differ only in their kernel path, on the TinyLlama-1.1B shapes
/// at M = 1, 2, 4, 8, each side's weights cycled over <see cref="LinearCase.ColdBytes"/> (read from memory), interleaved
/// batch by batch (A B, then B A; <see cref="IntAvx2Ab.Interleaved"/>) so both see the same machine load. Kernel only (activations quantized once). Both paths
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
        Header(o);
        foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
            foreach (int m in new[] { 1, 2, 4, 8 })
            {
                using var ca = new LinearCase(a, n, k, m, LinearKind.W4A8, groupSize, Scale);
                using var cb = new LinearCase(b, n, k, m, LinearKind.W4A8, groupSize, Scale);
                ca.TouchEveryCopy(); cb.TouchEveryCopy();
                Row(o, n, k, m, ca.Linear, cb.Linear, batches);
            }
    }

    /// <summary>The column header of <see cref="Row"/>.</summary>
    internal static void Header(TextWriter o) => o.WriteLine($"{"N x K",-11} {"M",2} {"A us",8} {"B us",8} {"B/A best",8} {"B/A med",7}");

    /// <summary>
    /// One row: <paramref name="a"/> and <paramref name="b"/> 40 times each (past tiered JIT), then interleaved
    /// (<see cref="IntAvx2Ab.Interleaved"/>); prints the best batches and the median per-pair ratio.
    /// </summary>
    internal static void Row(TextWriter o, int n, int k, int m, Action a, Action b, int batches)
    {
        for (int i = 0; i < 40; i++) { a(); b(); }
        var (ta, tb, ratio, _) = IntAvx2Ab.Interleaved(a, b, batches);
        o.WriteLine($"{n + "x" + k,-11} {m,2} {ta.Best,8:F1} {tb.Best,8:F1} {tb.Best / ta.Best,8:F3} {ratio,7:F3}");
    }
}
