using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `intprefab [threads=2] [groupSize=32] [batches=20]`: the AVX-512 integer linear (W4A8, fp16-valued scales) at
/// M = 1, 2, 4 without (A) and with (B) the software prefetch of the next tile's group scales (<see cref="LinearIntAvx512.PrefetchScales"/>), interleaved batch by batch on the
/// TinyLlama-1.1B shapes, weights from memory. Same bits either way.
/// </summary>
public static class IntPrefetchAb
{
    private static readonly float Scale = (float)(Half)0.01f;

    public static void Run(TextWriter o, int threads, int groupSize, int batches)
    {
        using var backend = new CpuBackend(new CpuBackendOptions { MaxThreads = threads });
        o.WriteLine($"intprefab: {backend.Name}; W4A8, G={groupSize}; A = no scale prefetch, B = next tile's scales prefetched");
        IntPathAb.Header(o);
        foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
            foreach (int m in new[] { 1, 2, 4 })
            {
                using var ca = new LinearCase(backend, n, k, m, LinearKind.W4A8, groupSize, Scale);
                ca.TouchEveryCopy();
                IntPathAb.Row(o, n, k, m, () => { LinearIntAvx512.PrefetchScales = false; ca.Linear(); },
                              () => { LinearIntAvx512.PrefetchScales = true; ca.Linear(); }, batches);
            }
        LinearIntAvx512.PrefetchScales = true;
    }

    /// <summary>
    /// `intprefab forward [pairs=200]`: W4A8 one-token decode forwards of the synthetic TinyLlama-1.1B at position 64,
    /// alternating forward by forward without (A) and with (B) the scale prefetch; prints quartiles and the median ratio.
    /// </summary>
    public static void Forward(TextWriter o, int threads, int pairs)
    {
        using var forwards = new AlternatedForwards(threads);
        o.WriteLine($"intprefab forward: W4A8, {threads} threads, {pairs} alternated pairs; A = no scale prefetch, B = scale prefetch");
        o.WriteLine("  " + forwards.Compare(ExecutionMode.W4A8, b => LinearIntAvx512.PrefetchScales = b, pairs));
        LinearIntAvx512.PrefetchScales = true;
    }
}
