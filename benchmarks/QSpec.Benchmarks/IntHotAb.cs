using QSpec.Kernels;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `inthotab [threads=2] [groupSize=32] [batches=15] [pathA=Avx512] [pathB=Avx2]`: as <see cref="IntPathAb"/> but with
/// one weight copy that stays in the caches (256 and 512 channels × 2048: 128-256 KB per thread, inside a 1 MB L2),
/// so the two integer paths' instruction costs are compared with memory out of the way.
/// </summary>
public static class IntHotAb
{
    public static void Run(TextWriter o, int threads, int groupSize, int batches, CpuKernelPath pathA, CpuKernelPath pathB)
    {
        using var a = new CpuBackend(new CpuBackendOptions { MaxThreads = threads, Path = pathA });
        using var b = new CpuBackend(new CpuBackendOptions { MaxThreads = threads, Path = pathB });
        o.WriteLine($"inthotab: A = {a.Name}, B = {b.Name}; W4A8, G={groupSize}, weights in cache");
        IntPathAb.Header(o);
        foreach (var (n, k) in new[] { (256, 2048), (512, 2048), (512, 5632) })
            foreach (int m in new[] { 1, 2, 4, 8 })
            {
                var w = LinearCase.RandomCopies(n, k, groupSize, hot: true, new Random(1))[0];
                var rng = new Random(2);
                var x = new float[m * k];
                for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
                Action Make(IBackend be)
                {
                    var dw = be.CreateMatrix(w, null, n, k);
                    var dx = be.Allocate(x.Length); be.Upload(x, dx);
                    var dy = be.Allocate((long)m * n);
                    var q = be.AllocateQuantizedActivations(m, k);
                    be.QuantizeActivations(dx, m, k, 8, q);
                    return () => { be.LinearInt(q, dw, dy, m); be.Synchronize(); };
                }
                IntPathAb.Row(o, n, k, m, Make(a), Make(b), batches);
            }
    }
}
