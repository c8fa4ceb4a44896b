using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The CPU attention split over the backend's threads by (row, KV head): every call split (ParallelThreshold = 1) over
/// 2, 3 and 5 threads, so part boundaries fall inside a row's heads and inside a KV group, with float32 and FP16 caches,
/// head sizes of the general path (6, 64) and of the register path (16). Each result equals the one-thread backend's
/// bit for bit, for all rows at once and for a single row at an offset (the decode call).
/// </summary>
public sealed class CpuParallelAttentionTests
{
    private static readonly string[] Paths = ["avx512", "avx2"];

    /// <summary>(path, precision, heads, kvHeads, head size, threads) rows for the vector paths this machine has.</summary>
    public static IEnumerable<object[]> Cases()
    {
        foreach (var path in Paths.Where(p => p == "avx512" ? CpuPaths.HasAvx512 : CpuPaths.HasAvx2))
            foreach (var precision in new[] { KvPrecision.Float32, KvPrecision.Float16 })
                foreach (var (heads, kvHeads, hs) in new[] { (4, 2, 16), (3, 3, 6), (8, 1, 64), (7, 7, 64) })
                    foreach (int threads in new[] { 2, 3, 5 })
                        yield return [path, precision, heads, kvHeads, hs, threads];
    }

    [Theory, MemberData(nameof(Cases))]
    public void SplitByHeads_EqualsOneThreadBitwise(string path, KvPrecision precision, int heads, int kvHeads, int hs, int threads)
    {
        var kernelPath = Enum.Parse<CpuKernelPath>(path, ignoreCase: true);
        using var one = new CpuBackend(new CpuBackendOptions { Path = kernelPath, MaxThreads = 1 });
        using var many = new CpuBackend(new CpuBackendOptions { Path = kernelPath, MaxThreads = threads, ParallelThreshold = 1 });
        using var a = new AttentionSetup(one, precision, heads, kvHeads, hs);
        using var b = new AttentionSetup(many, precision, heads, kvHeads, hs);
        TestData.AssertBitwise(a.Run(0, AttentionSetup.Rows), b.Run(0, AttentionSetup.Rows));
        TestData.AssertBitwise(a.Run(5, 1), b.Run(5, 1));
        TestData.AssertBitwise(a.Run(AttentionSetup.Rows - 3, 3), b.Run(AttentionSetup.Rows - 3, 3));
    }
}
