using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The CPU backend's fused linear ops (one dispatch per call, see ChannelJobs) at the edges the split introduces: every
/// call split (ParallelThreshold = 1) over 2, 3 and 5 threads, so part boundaries fall inside a matrix, between matrices
/// and inside a channel block; N not a multiple of any channel block (4, 16); matrices of one LinearMany with different
/// group sizes (their per-thread scratch must not be shared). Each fused result equals the separate plain ops bit for bit.
/// </summary>
public sealed class CpuFusedLinearTests
{
    private static readonly string[] Paths = ["avx512", "avxvnni", "avx2", "scalar"];

    /// <summary>(path, kind, bits, threads) rows for the paths this machine has.</summary>
    public static IEnumerable<object[]> Cases()
    {
        foreach (var path in Paths.Where(Supported))
            foreach (var (kind, bits) in new[] { ("F32", 0), ("W4A16", 0), ("Int", 4), ("Int", 8) })
                foreach (int threads in new[] { 2, 3, 5 })
                    yield return [path, kind, bits, threads];
    }

    [Theory, MemberData(nameof(Cases))]
    public void LinearMany_SplitInsideAndAcrossMatrices_EqualsSeparateLinears(string path, string kind, int bits, int threads)
    {
        using var backend = Backend(path, threads);
        var lk = Enum.Parse<LinearKind>(kind);
        const int k = 172, m = 3;
        // Q-, K- and V-like widths that are no multiple of 4 or 16, one matrix narrower than a channel block, and mixed
        // group sizes (G = 64, 32, per channel).
        int[] widths = [37, 5, 29];
        int[] groups = [64, 32, 0];
        var w = widths.Select((n, i) => FusedTestData.Matrix(backend, lk, n, k, groups[i], 40 + i)).ToArray();
        using var input = FusedInput.Create(backend, lk, bits, m, k, 3);
        var fused = widths.Select(n => backend.Allocate((long)m * n)).ToArray();
        var separate = widths.Select(n => backend.Allocate((long)m * n)).ToArray();
        backend.LinearMany(lk, input.X, input.Q, w, fused, m);
        for (int i = 0; i < w.Length; i++) FusedTestData.Plain(backend, lk, input, w[i], separate[i], m);
        for (int i = 0; i < w.Length; i++)
            TestData.AssertBitwise(TestData.Download(backend, separate[i], m * widths[i]), TestData.Download(backend, fused[i], m * widths[i]));
        foreach (var d in w.Concat<IDisposable>(fused).Concat(separate)) d.Dispose();
    }

    [Theory, MemberData(nameof(Cases))]
    public void LinearSwiGlu_SplitInsideAChannelBlock_EqualsLinearsThenSwiGlu(string path, string kind, int bits, int threads)
    {
        using var backend = Backend(path, threads);
        var lk = Enum.Parse<LinearKind>(kind);
        foreach (var (n, k, m) in new[] { (37, 172, 1), (1, 64, 2), (45, 130, 5) })
        {
            using var w1 = FusedTestData.Matrix(backend, lk, n, k, 32, 7);
            using var w3 = FusedTestData.Matrix(backend, lk, n, k, 32, 8);
            using var input = FusedInput.Create(backend, lk, bits, m, k, 9);
            using var gate = backend.Allocate((long)m * n);
            using var up = backend.Allocate((long)m * n);
            using var refGate = backend.Allocate((long)m * n);
            using var refUp = backend.Allocate((long)m * n);
            backend.LinearSwiGlu(lk, input.X, input.Q, w1, w3, gate, up, m);
            FusedTestData.Plain(backend, lk, input, w1, refGate, m);
            FusedTestData.Plain(backend, lk, input, w3, refUp, m);
            backend.SwiGlu(refGate, refUp, (long)m * n);
            TestData.AssertBitwise(TestData.Download(backend, refGate, m * n), TestData.Download(backend, gate, m * n));
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void LinearAdd_SplitInsideAChannelBlock_EqualsLinearThenAdd(string path, string kind, int bits, int threads)
    {
        using var backend = Backend(path, threads);
        var lk = Enum.Parse<LinearKind>(kind);
        foreach (var (n, k, m) in new[] { (37, 172, 1), (3, 17, 4), (66, 256, 2) })
        {
            using var w = FusedTestData.Matrix(backend, lk, n, k, 64, 11);
            using var input = FusedInput.Create(backend, lk, bits, m, k, 12);
            var residual = TestData.Floats(m * n, 13, 4f);
            using var fused = TestData.Upload(backend, residual);
            using var expected = TestData.Upload(backend, residual);
            using var scratch = backend.Allocate((long)m * n);
            using var product = backend.Allocate((long)m * n);
            backend.LinearAdd(lk, input.X, input.Q, w, fused, scratch, m);
            FusedTestData.Plain(backend, lk, input, w, product, m);
            backend.Add(expected, product, (long)m * n);
            TestData.AssertBitwise(TestData.Download(backend, expected, m * n), TestData.Download(backend, fused, m * n));
        }
    }

    [Fact]
    public void LinearMany_ManyCallsInARow_LeaveNoCaptureBehind()
    {
        // A fused op captures the pool's jobs on the calling thread; a plain op right after must run, not be recorded.
        using var backend = Backend("scalar", 2);
        var w = new[] { FusedTestData.Matrix(backend, LinearKind.F32, 9, 33, 0, 1), FusedTestData.Matrix(backend, LinearKind.F32, 4, 33, 0, 2) };
        using var input = FusedInput.Create(backend, LinearKind.F32, 0, 2, 33, 3);
        using var a = backend.Allocate(18);
        using var b = backend.Allocate(8);
        using var plain = backend.Allocate(18);
        for (int i = 0; i < 20; i++)
        {
            backend.LinearMany(LinearKind.F32, input.X, null, w, [a, b], 2);
            backend.LinearF32(input.X, w[0], plain, 2);
            TestData.AssertBitwise(TestData.Download(backend, a, 18), TestData.Download(backend, plain, 18));
        }
        foreach (var d in w) d.Dispose();
    }

    private static bool Supported(string path) => path switch
    {
        "avx512" => CpuPaths.HasAvx512,
        "avxvnni" => CpuPaths.HasAvxVnni,
        "avx2" => CpuPaths.HasAvx2,
        _ => true,
    };

    /// <summary>A backend that splits every call (threshold 1) over <paramref name="threads"/> threads.</summary>
    private static CpuBackend Backend(string path, int threads) => new(new CpuBackendOptions
    {
        Path = Enum.Parse<CpuKernelPath>(path, ignoreCase: true),
        MaxThreads = threads,
        ParallelThreshold = 1,
    });
}
