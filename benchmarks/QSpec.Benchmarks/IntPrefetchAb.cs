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
        o.WriteLine($"{"N x K",-11} {"M",2} {"A us",8} {"B us",8} {"B/A best",8} {"B/A med",7}");
        foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
            foreach (int m in new[] { 1, 2, 4 })
            {
                using var ca = new LinearCase(backend, n, k, m, LinearKind.W4A8, groupSize, Scale);
                ca.TouchEveryCopy();
                for (int i = 0; i < 40; i++) ca.Linear();
                void A() { LinearIntAvx512.PrefetchScales = false; ca.Linear(); }
                void B() { LinearIntAvx512.PrefetchScales = true; ca.Linear(); }
                var (ta, tb, ratio, _) = IntAvx2Ab.Interleaved(A, B, batches);
                o.WriteLine($"{n + "x" + k,-11} {m,2} {ta.Best,8:F1} {tb.Best,8:F1} {tb.Best / ta.Best,8:F3} {ratio,7:F3}");
            }
    }
}
