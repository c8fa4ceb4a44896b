using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The AVX2 integer linear's multi-row tiles (<see cref="LinearIntAvx2Rows"/>: rows in chunks of 2 (or 4), then 1 per
/// tile of four channels) against <see cref="LinearReference.Int"/> bit for bit, at odd N (a partial channel tile), odd K (an odd
/// chunk count, a half last block, partial groups) and every M from 1 to 9 (each mix of 4-, 2- and 1-row tiles), and
/// batch invariance: a row's bits do not depend on M, on its position in the batch, on the thread split or on the tile
/// (multi-row or the one-row tile of before). Skipped where the CPU has no AVX2 (the convention of the AVX-512 tests: xunit 2 has no runtime skip).
/// </summary>
public sealed class LinearIntAvx2RowsTests
{
    private const int MaxRows = 9;

    /// <summary>AVX2 (and AVX-VNNI where present) backends: one thread, two threads splitting even tiny matrices, three.</summary>
    private static readonly Lazy<IBackend[]> s_backends = new(() =>
    {
        var paths = CpuPaths.HasAvxVnni ? new[] { CpuKernelPath.Avx2, CpuKernelPath.AvxVnni } : [CpuKernelPath.Avx2];
        return [.. from p in paths
                   from t in new[] { 1, 2, 3 }
                   select (IBackend)new CpuBackend(new CpuBackendOptions { Path = p, MaxThreads = t, ParallelThreshold = t == 1 ? long.MaxValue : 1 })];
    });

    /// <summary>(G, bits, N, K) rows: G = 32, 64, 128 and per channel; W4A4 and W4A8; N = 1, 17, 1025; K = 172, 1025, 2200.</summary>
    public static TheoryData<int, int, int, int> Shapes
    {
        get
        {
            var data = new TheoryData<int, int, int, int>();
            foreach (int g in new[] { 32, 64, 128, 0 })
                foreach (int bits in new[] { 4, 8 })
                    foreach (int n in new[] { 1, 17, 1025 })
                        foreach (int k in new[] { 172, 1025, 2200 })
                            data.Add(g, bits, n, k);
            return data;
        }
    }

    [Theory, MemberData(nameof(Shapes))]
    public void LinearInt_Avx2_EveryM_EqualsReferenceBitwise(int g, int bits, int n, int k)
    {
        if (!CpuPaths.HasAvx2) return; // the AVX2 kernels cannot run here (the class summary)
        var (w, x) = Case(n, k, g, seed: n * 31 + k + g);
        var expected = Reference(w, x, MaxRows, k, bits);
        foreach (var backend in s_backends.Value)
        {
            Assert.Contains(backend.Name.Contains("avxvnni") ? "int avxvnni" : "int avx2", backend.Name);
            using var matrix = backend.CreateMatrix(w, null, n, k);
            foreach (int tileRows in new[] { 2, 4 }) // the default 2-row tiles and the 4-row ones (Avx2MaxTileRows)
            {
                LinearIntKernel.Avx2MaxTileRows = tileRows;
                try
                {
                    for (int m = 1; m <= MaxRows; m++)
                        AssertRows(expected, Run(backend, matrix, x, m, k, n, bits), m, n, $"{backend.Name}, {tileRows}-row tiles, M = {m}");
                }
                finally { LinearIntKernel.Avx2MaxTileRows = 2; }
            }
        }
    }

    /// <summary>
    /// The same nine rows in a rotated order give the same bits per row on every backend and both tile kinds, and the
    /// 1-row call of each row equals its row in the 9-row call: nothing a row gets depends on its neighbours.
    /// </summary>
    [Theory, InlineData(32, 8), InlineData(64, 4), InlineData(0, 8), InlineData(128, 8)]
    public void LinearInt_Avx2_RowBits_DoNotDependOnBatch(int g, int bits)
    {
        if (!CpuPaths.HasAvx2) return; // the AVX2 kernels cannot run here (the class summary)
        const int n = 37, k = 1025;
        var (w, x) = Case(n, k, g, seed: 5 + g);
        var rotated = new float[x.Length];
        for (int m = 0; m < MaxRows; m++) Array.Copy(x, m * k, rotated, (m + 4) % MaxRows * k, k);
        var first = s_backends.Value[0];
        using var m0 = first.CreateMatrix(w, null, n, k);
        var baseline = Run(first, m0, x, MaxRows, k, n, bits);
        Assert.Contains(baseline, v => v != 0f); // a case whose outputs were all zero would prove nothing
        foreach (var backend in s_backends.Value)
            foreach (int tileRows in new[] { 2, 4, 1 })
            {
                using var matrix = backend.CreateMatrix(w, null, n, k);
                LinearIntKernel.Avx2MaxTileRows = tileRows;
                try
                {
                    var y = Run(backend, matrix, rotated, MaxRows, k, n, bits);
                    for (int m = 0; m < MaxRows; m++)
                    {
                        TestData.AssertBitwise(baseline.AsSpan(m * n, n), y.AsSpan((m + 4) % MaxRows * n, n));
                        var alone = Run(backend, matrix, x.AsSpan(m * k, k).ToArray(), 1, k, n, bits);
                        TestData.AssertBitwise(baseline.AsSpan(m * n, n), alone);
                    }
                }
                finally { LinearIntKernel.Avx2MaxTileRows = 2; }
            }
    }

    /// <summary>
    /// Every nibble 15 or 0 against activations at ±qmax on 4- and 2-row tiles (M = 7: one of each and a 1-row tile):
    /// the int16 pair sums of <see cref="IByteDot.Dot2"/> at their bound, per row.
    /// </summary>
    [Theory, InlineData(0xFF, 1), InlineData(0x00, 1), InlineData(0xFF, -1), InlineData(0x0F, -1)]
    public void LinearInt_Avx2_AtTheSumBounds_EqualsReference(int nibbles, int sign)
    {
        if (!CpuPaths.HasAvx2) return; // the AVX2 kernels cannot run here (the class summary)
        const int n = 19, k = 2200, m = 7;
        foreach (int g in new[] { 0, 32, 64, 128 })
        {
            var w = Int4Matrix.CreateZero(n, k, g);
            w.Data.AsSpan().Fill((byte)nibbles);
            for (int i = 0; i < w.Scales.Length; i++) w.Scales[i] = 0.5f + i % 7 * 0.125f;
            var x = new float[m * k];
            for (int i = 0; i < x.Length; i++) x[i] = (i / k) % 2 == 0 ? sign : -sign;
            foreach (int bits in new[] { 4, 8 })
            {
                var expected = Reference(w, x, m, k, bits);
                foreach (var backend in s_backends.Value)
                {
                    using var matrix = backend.CreateMatrix(w, null, n, k);
                    AssertRows(expected, Run(backend, matrix, x, m, k, n, bits), m, n, $"{backend.Name}, G = {g}, bits = {bits}");
                }
            }
        }
    }

    /// <summary>Random nibbles (padding included: it meets zero codes) and scales, and M × K activations in [−2, 2).</summary>
    private static (Int4Matrix W, float[] X) Case(int n, int k, int g, int seed)
    {
        var rng = new Random(seed);
        var w = Int4Matrix.CreateZero(n, k, g);
        rng.NextBytes(w.Data);
        for (int i = 0; i < w.Scales.Length; i++) w.Scales[i] = (float)(0.001 + rng.NextDouble() * 0.05);
        return (w, TestData.Floats(MaxRows * k, seed + 1, 2f));
    }

    /// <summary>The reference's Y for the first <paramref name="m"/> rows of <paramref name="x"/>, quantized by the reference.</summary>
    private static float[] Reference(Int4Matrix w, float[] x, int m, int k, int bits)
    {
        var q = new sbyte[m * w.PaddedColumns];
        var s = new float[m];
        ActivationQuantReference.Quantize(x.AsSpan(0, m * k), m, k, bits, q, s);
        var y = new float[m * w.Rows];
        LinearReference.Int(q, s, m, w, y);
        return y;
    }

    /// <summary>Quantizes the first <paramref name="m"/> rows of <paramref name="x"/> on the backend and runs the linear.</summary>
    private static float[] Run(IBackend backend, DeviceMatrix matrix, float[] x, int m, int k, int n, int bits)
    {
        using var xb = TestData.Upload(backend, x.AsSpan(0, m * k).ToArray());
        using var qb = backend.AllocateQuantizedActivations(m, k);
        using var yb = backend.Allocate((long)m * n);
        backend.QuantizeActivations(xb, m, k, bits, qb);
        backend.LinearInt(qb, matrix, yb, m);
        return TestData.Download(backend, yb, m * n);
    }

    private static void AssertRows(float[] expected, float[] actual, int m, int n, string what)
    {
        for (int i = 0; i < m * n; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: row {i / n}, channel {i % n}: expected {expected[i]:R}, got {actual[i]:R}.");
    }
}
