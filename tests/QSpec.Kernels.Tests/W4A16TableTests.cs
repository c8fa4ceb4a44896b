using System.Runtime.Intrinsics;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The AVX-512 table kernel as the backend's W4A16 linear (<see cref="CpuBackendOptions.W4A16TableKernel"/> with the
/// denormal form off, as on a machine that pays for denormal operands): it is what the backend runs at G = 32 and 64
/// (the call gives the kernel's own bits), it matches <see cref="LinearReference.W4A16"/> at odd sizes, its rows are
/// bitwise independent of the batch and of the thread count, and the fused ops (QKV, W1|W3 + SwiGLU, the residual add)
/// equal their composition bit for bit on it. All cases need AVX-512F and return at once on a machine without it.
/// </summary>
public sealed class W4A16TableTests
{
    /// <summary>Same bound as the backend tests: relative to Σ_k |x_k·w_k|.</summary>
    private const float Tolerance = 2e-5f;

    /// <summary>(N, K, G, M): K = 172 (last block partial, last group partial), 1025, 2200 (several K chunks), 64, 1, 17.</summary>
    public static TheoryData<int, int, int, int> ReferenceCases
    {
        get
        {
            var data = new TheoryData<int, int, int, int>();
            foreach (int g in new[] { 32, 64 })
            {
                data.Add(17, 172, g, 1); data.Add(17, 172, g, 3); data.Add(6, 172, g, 17);
                data.Add(5, 1025, g, 1); data.Add(3, 1025, g, 4); data.Add(3, 2200, g, 5);
                data.Add(4, 64, g, 2); data.Add(1, 1, g, 1); data.Add(9, 17, g, 7); data.Add(7, 2200, g, 9);
            }
            return data;
        }
    }

    [Theory, MemberData(nameof(ReferenceCases))]
    public void Linear_MatchesReference(int n, int k, int g, int m)
    {
        if (!CpuPaths.HasAvx512) return;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 11 + g), n, k, g);
        var x = TestData.Floats(m * k, 12 + m);
        W4A16PathChecks.AssertMatchesReference(CpuKernelPath.Avx512, w, x, m, Tolerance, denormal: false, table: true);
    }

    [Theory, InlineData(32, 1), InlineData(32, 4), InlineData(64, 9), InlineData(32, 17)]
    public void Backend_RunsTheTableKernel(int g, int m)
    {
        if (!CpuPaths.HasAvx512) return;
        const int n = 37, k = 1025;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 21), n, k, g);
        var x = TestData.Floats(m * k, 22);
        using var backend = Table(threads: 2);
        TestData.AssertBitwise(Direct(w, x, m), W4A16PathChecks.Run(backend, w, x, m));
    }

    [Theory, InlineData(32, 2200), InlineData(64, 1025), InlineData(32, 172)]
    public void Linear_RowsAreBitwiseIndependentOfTheBatch(int g, int k)
    {
        if (!CpuPaths.HasAvx512) return;
        const int n = 37;
        using var backend = Table(threads: 1);
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 31 + g), n, k, g);
        foreach (int m in new[] { 2, 3, 5, 8, 9, 17 })
        {
            var x = TestData.Floats(m * k, 32 + m);
            var batch = W4A16PathChecks.Run(backend, w, x, m);
            for (int r = 0; r < m; r++)
                TestData.AssertBitwise(batch.AsSpan(r * n, n), W4A16PathChecks.Run(backend, w, x.AsSpan(r * k, k).ToArray(), 1));
        }
    }

    [Theory, InlineData(32, 1), InlineData(32, 6), InlineData(64, 3)]
    public void Linear_IsBitwiseIndependentOfTheThreadCount(int g, int m)
    {
        if (!CpuPaths.HasAvx512) return;
        const int n = 203, k = 1025;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 41), n, k, g);
        var x = TestData.Floats(m * k, 42);
        using var one = Table(threads: 1);
        using var two = Table(threads: 2);
        TestData.AssertBitwise(W4A16PathChecks.Run(one, w, x, m), W4A16PathChecks.Run(two, w, x, m));
    }

    [Fact]
    public void FusedOps_EqualTheirComposition()
    {
        if (!CpuPaths.HasAvx512) return;
        const int k = 172, m = 3, n1 = 45, n2 = 13;
        using var table = Table(threads: 2);
        IBackend b = table;
        using var w1 = b.CreateMatrix(Int4Matrix.Quantize(TestData.Floats(n1 * k, 51), n1, k, 32), null, n1, k);
        using var w3 = b.CreateMatrix(Int4Matrix.Quantize(TestData.Floats(n1 * k, 52), n1, k, 32), null, n1, k);
        using var wv = b.CreateMatrix(Int4Matrix.Quantize(TestData.Floats(n2 * k, 53), n2, k, 32), null, n2, k);
        using var x = TestData.Upload(b, TestData.Floats(m * k, 54));
        float[] Get(DeviceBuffer y, int count) => TestData.Download(b, y, count);

        // QKV-style: two matrices from one call against one call each.
        using var a1 = b.Allocate(m * n1); using var a2 = b.Allocate(m * n2);
        b.LinearMany(LinearKind.W4A16, x, null, new[] { w1, wv }, new[] { a1, a2 }, m);
        using var c1 = b.Allocate(m * n1); using var c2 = b.Allocate(m * n2);
        b.LinearW4A16(x, w1, c1, m); b.LinearW4A16(x, wv, c2, m);
        TestData.AssertBitwise(Get(c1, m * n1), Get(a1, m * n1));
        TestData.AssertBitwise(Get(c2, m * n2), Get(a2, m * n2));

        // W1|W3 with the SwiGLU epilogue against the two products and SwiGlu.
        using var gate = b.Allocate(m * n1); using var up = b.Allocate(m * n1);
        b.LinearSwiGlu(LinearKind.W4A16, x, null, w1, w3, gate, up, m);
        using var g2 = b.Allocate(m * n1); using var u2 = b.Allocate(m * n1);
        b.LinearW4A16(x, w1, g2, m); b.LinearW4A16(x, w3, u2, m); b.SwiGlu(g2, u2, (long)m * n1);
        TestData.AssertBitwise(Get(g2, m * n1), Get(gate, m * n1));

        // The residual add as the epilogue against the product and Add.
        var residual = TestData.Floats(m * n2, 55);
        using var r1 = TestData.Upload(b, residual); using var r2 = TestData.Upload(b, residual);
        using var s1 = b.Allocate(m * n2); using var s2 = b.Allocate(m * n2);
        b.LinearAdd(LinearKind.W4A16, x, null, wv, r1, s1, m);
        b.LinearW4A16(x, wv, s2, m); b.Add(r2, s2, (long)m * n2);
        TestData.AssertBitwise(Get(r2, m * n2), Get(r1, m * n2));
    }

    private static CpuBackend Table(int threads) => W4A16PathChecks.Backend(CpuKernelPath.Avx512, threads, denormal: false, table: true);

    /// <summary>Y of <see cref="LinearW4A16Avx512.Run"/> called directly over every channel (X zero-padded to whole blocks).</summary>
    private static unsafe float[] Direct(Int4Matrix w, float[] x, int m)
    {
        int n = w.Rows, k = w.Columns, kp = w.PaddedColumns;
        var padded = new float[m * kp];
        for (int r = 0; r < m; r++) x.AsSpan(r * k, k).CopyTo(padded.AsSpan(r * kp, k));
        var y = new float[m * n];
        var acc = new Vector512<float>[LinearW4A16Avx512.AccumulatorCount(m) + 1];
        fixed (byte* wd = w.Data)
        fixed (float* sc = w.Scales, xp = padded, yp = y)
        fixed (Vector512<float>* ap = acc)
        {
            var aligned = (Vector512<float>*)(((nint)ap + 63) & ~(nint)63);
            LinearW4A16Avx512.Run(wd, sc, w.RowBytes, w.GroupCount, new GroupIndex(w), n, 0, n, m, xp, kp, yp, aligned);
        }
        return y;
    }
}
