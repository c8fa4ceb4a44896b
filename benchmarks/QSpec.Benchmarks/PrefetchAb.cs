using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `prefetchab [threads=2] [groupSize=32] [batches=15]`: the AVX-512 streaming kernels with their software prefetch
/// into L2 only (A, prefetcht1) and into L1 (B, prefetcht0), the choice <see cref="CpuPrefetch.ToL1"/> makes by
/// machine. W4A8 (fp16-valued scales) and W4A16 at M = 1, 2, 4, 8 on the TinyLlama-1.1B shapes, weights from memory,
/// interleaved batch by batch (<see cref="IntAvx2Ab.Interleaved"/>). Same bits either way.
/// `prefetchab forward [pairs=100]`: W4A8 and W4A16 one-token decode forwards of the synthetic TinyLlama-1.1B,
/// alternated forward by forward.
/// </summary>
public static class PrefetchAb
{
    private static readonly float Scale = (float)(Half)0.01f;

    public static void Run(TextWriter o, int threads, int groupSize, int batches)
    {
        bool chosen = CpuPrefetch.ToL1;
        using var backend = new CpuBackend(new CpuBackendOptions { MaxThreads = threads });
        o.WriteLine($"prefetchab: {backend.Name}, G={groupSize}; A = prefetcht1 (L2), B = prefetcht0 (L1); this machine's default: {(chosen ? "B" : "A")}");
        foreach (var kind in new[] { LinearKind.W4A8, LinearKind.W4A16 })
        {
            o.WriteLine(kind);
            IntPathAb.Header(o);
            foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
                foreach (int m in new[] { 1, 2, 4, 8 })
                {
                    using var c = new LinearCase(backend, n, k, m, kind, groupSize, Scale);
                    c.TouchEveryCopy();
                    IntPathAb.Row(o, n, k, m, () => { CpuPrefetch.ToL1 = false; c.Linear(); }, () => { CpuPrefetch.ToL1 = true; c.Linear(); }, batches);
                }
        }
        CpuPrefetch.ToL1 = chosen;
    }

    public static void Forward(TextWriter o, int threads, int pairs)
    {
        bool chosen = CpuPrefetch.ToL1;
        using var forwards = new AlternatedForwards(threads);
        o.WriteLine($"prefetchab forward: {threads} threads, {pairs} alternated pairs; A = prefetcht1 (L2), B = prefetcht0 (L1); this machine's default: {(chosen ? "B" : "A")}");
        foreach (var mode in new[] { ExecutionMode.W4A8, ExecutionMode.W4A16 })
            o.WriteLine($"  {mode}: " + forwards.Compare(mode, b => CpuPrefetch.ToL1 = b, pairs));
        CpuPrefetch.ToL1 = chosen;
    }
}
