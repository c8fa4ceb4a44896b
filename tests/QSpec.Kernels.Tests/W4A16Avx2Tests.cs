using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The in-place-nibble AVX2 W4A16 kernel (<see cref="LinearW4A16Avx2"/>) and its activation permutation: the layout
/// against its scalar definition, the products against <see cref="LinearReference.W4A16"/> for every group size at odd
/// sizes (K = 172 and 1025 end in a partial block and a partial group, whose odd half may lie past K), the
/// products bit for bit against the kernel's scalar model (<see cref="LinearW4A16Avx2.Reference"/>), and bit-for-bit
/// invariance over the batch size (row tiles of 1 and 2 and their mixes, channel pairs and a self-paired odd last
/// channel), the thread count and the position of a row in the batch; each in both forms, the shift form
/// (<see cref="ShiftNibbles"/>) and the denormal form (<see cref="DenormalNibbles"/>, forced on). All cases need AVX2 + FMA
/// and return at once on a machine without them.
/// </summary>
public sealed class W4A16Avx2Tests
{
    /// <summary>Same bound as the backend tests: relative to Σ_k |x_k·w_k|.</summary>
    private const float Tolerance = 2e-5f;

    public static TheoryData<int, bool, bool> PermuteCases
    {
        get
        {
            var data = new TheoryData<int, bool, bool>();
            foreach (bool denormal in new[] { false, true })
                foreach (var (k, split) in new[] { (1, true), (64, false), (172, true), (1025, false), (2200, true), (2200, false) })
                    data.Add(k, split, denormal);
            return data;
        }
    }

    /// <summary>The layout, and in the denormal form each vector i scaled by 2^(80 − 4·(i mod 4)) and each −1.5 replaced by −8·2^−69.</summary>
    [Theory, MemberData(nameof(PermuteCases))]
    public void Permute_PutsEveryColumnWhereItsNibbleComesOut(int k, bool split, bool denormal)
    {
        if (!CpuPaths.HasAvx2) return;
        const int rows = 3;
        var x = TestData.Floats(rows * k, k + 1);
        var (buffer, offset, xs) = LinearW4A16Avx2Activations.Permute(x, rows, k, split, denormal);
        float minus = denormal ? -8f * MathF.ScaleB(1f, -69) : -1.5f;
        Assert.Equal((k + 63) / 64 * LinearW4A16Avx2.BlockFloats, xs);
        for (int m = 0; m < rows; m++)
            for (int b = 0; b < xs / LinearW4A16Avx2.BlockFloats; b++)
            {
                int at = offset + m * xs + b * LinearW4A16Avx2.BlockFloats;
                var v = new float[8, 8];
                for (int i = 0; i < 8; i++)
                    for (int l = 0; l < 8; l++)
                    {
                        // Nibble i of dword l is byte 4l + i/2, low nibble (column 4l + i/2) for even i, high (32 + ...) for odd.
                        int col = 64 * b + 4 * l + i / 2 + 32 * (i % 2);
                        v[i, l] = col < k ? x[m * k + col] : 0f;
                        float stored = denormal ? v[i, l] * MathF.ScaleB(1f, 80 - 4 * (i % 4)) : v[i, l];
                        Assert.Equal(BitConverter.SingleToInt32Bits(stored), BitConverter.SingleToInt32Bits(buffer[at + 8 * i + l]));
                    }
                for (int l = 0; l < 8; l++)
                {
                    float even = (v[0, l] + v[2, l]) + (v[4, l] + v[6, l]), odd = (v[1, l] + v[3, l]) + (v[5, l] + v[7, l]);
                    float s0 = split ? minus * even : minus * (even + odd), s1 = split ? minus * odd : 0f;
                    Assert.Equal(BitConverter.SingleToInt32Bits(s0), BitConverter.SingleToInt32Bits(buffer[at + 64 + l]));
                    Assert.Equal(BitConverter.SingleToInt32Bits(s1), BitConverter.SingleToInt32Bits(buffer[at + 72 + l]));
                }
            }
    }

    /// <summary>(N, K, G, M, denormal form): every group size, N = 1, 17, 1025, K = 172, 1025, 2200, 64 (and 1, 17), M = 1..9.</summary>
    public static TheoryData<int, int, int, int, bool> ReferenceCases
    {
        get
        {
            var data = new TheoryData<int, int, int, int, bool>();
            foreach (bool d in new[] { false, true })
                foreach (int g in new[] { 32, 64, 128, 0 })
                {
                    data.Add(17, 172, g, 1, d); data.Add(17, 172, g, 3, d); data.Add(1, 172, g, 9, d);
                    data.Add(1025, 64, g, 2, d); data.Add(17, 64, g, 6, d); data.Add(1025, 1025, g, 1, d);
                    data.Add(5, 1025, g, 4, d); data.Add(17, 1025, g, 8, d); data.Add(3, 2200, g, 5, d);
                    data.Add(17, 2200, g, 9, d); data.Add(1, 2200, g, 7, d); data.Add(1, 1, g, 1, d); data.Add(9, 17, g, 7, d);
                }
            return data;
        }
    }

    [Theory, MemberData(nameof(ReferenceCases))]
    public void Linear_MatchesReference(int n, int k, int g, int m, bool denormal)
    {
        if (!CpuPaths.HasAvx2) return;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, n + 3 * k + g), n, k, g);
        var x = TestData.Floats(m * k, 5 * k + m);
        AssertMatchesReference(w, x, m, denormal);
    }

    /// <summary>
    /// All-positive activations and weights near the top of the range, K = 5632 (the w2 shape): no cancellation, so the
    /// kernel's offset form (weights 1.5 + q/16, the 1.5·Σx removed per group) shows its worst rounding here.
    /// </summary>
    [Theory, InlineData(32, false), InlineData(64, false), InlineData(0, false), InlineData(32, true), InlineData(64, true), InlineData(0, true)]
    public void Linear_StaysWithinToleranceWithoutCancellation(int g, bool denormal)
    {
        if (!CpuPaths.HasAvx2) return;
        const int n = 8, k = 5632, m = 2;
        var wf = TestData.Floats(n * k, 11);
        for (int i = 0; i < wf.Length; i++) wf[i] = 0.5f + 0.5f * MathF.Abs(wf[i]);
        var x = TestData.Floats(m * k, 12);
        for (int i = 0; i < x.Length; i++) x[i] = MathF.Abs(x[i]);
        AssertMatchesReference(Int4Matrix.Quantize(wf, n, k, g), x, m, denormal);
    }

    /// <summary>The kernel against its scalar model: the same lanes, chains, folds and reduction, so the same bits.</summary>
    [Theory]
    [InlineData(17, 172, 32, 3, false), InlineData(9, 2200, 32, 6, false), InlineData(9, 1025, 64, 5, false), InlineData(9, 1025, 128, 2, false), InlineData(9, 2200, 0, 9, false), InlineData(3, 17, 0, 1, false)]
    [InlineData(17, 172, 32, 3, true), InlineData(9, 2200, 32, 6, true), InlineData(9, 1025, 64, 5, true), InlineData(9, 1025, 128, 2, true), InlineData(9, 2200, 0, 9, true), InlineData(3, 17, 0, 1, true)]
    public void Linear_EqualsItsScalarModelBitwise(int n, int k, int g, int m, bool denormal)
    {
        if (!CpuPaths.HasAvx2) return;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 21 + g), n, k, g);
        var x = TestData.Floats(m * k, 22 + m);
        using var backend = Avx2(threads: 2, denormal);
        var y = Run(backend, w, x, m);
        var (buffer, offset, xs) = LinearW4A16Avx2Activations.Permute(x, m, k, split: g == 32, denormal);
        var expected = new float[m * n];
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++)
                expected[r * n + j] = LinearW4A16Avx2.Reference(w, j, buffer.AsSpan(offset + r * xs, xs), denormal);
        TestData.AssertBitwise(expected, y);
    }

    /// <summary>(N, K, G, M) for the invariance cases: N not a multiple of the 4-channel block (an odd last channel pairs with itself), every row tiling.</summary>
    public static TheoryData<int, int, int, int, bool> InvarianceCases
    {
        get
        {
            var data = new TheoryData<int, int, int, int, bool>();
            foreach (bool d in new[] { false, true })
            {
                foreach (int g in new[] { 32, 64, 128, 0 })
                    foreach (int m in new[] { 2, 3, 4, 5, 6, 7, 8, 9, 17 })
                        data.Add(37, g == 32 ? 2200 : 1025, g, m, d);
                data.Add(37, 172, 32, 17, d);
                data.Add(13, 5632, 32, 3, d); data.Add(13, 5632, 0, 8, d);
            }
            return data;
        }
    }

    [Theory, MemberData(nameof(InvarianceCases))]
    public void Linear_RowsAreBitwiseIndependentOfTheBatch(int n, int k, int g, int m, bool denormal)
    {
        if (!CpuPaths.HasAvx2) return;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 31 + g), n, k, g);
        var x = TestData.Floats(m * k, 32 + m);
        using var backend = Avx2(threads: 1, denormal);
        var batch = Run(backend, w, x, m);
        for (int r = 0; r < m; r++)
            TestData.AssertBitwise(batch.AsSpan(r * n, n), Run(backend, w, x.AsSpan(r * k, k).ToArray(), 1));
        // Row r = m / 2 as the last row of a batch of r + 1 (another tile height and position).
        int h = m / 2;
        var shorter = Run(backend, w, x.AsSpan(0, (h + 1) * k).ToArray(), h + 1);
        TestData.AssertBitwise(batch.AsSpan(h * n, n), shorter.AsSpan(h * n, n));
    }

    [Theory]
    [InlineData(32, 1, false), InlineData(32, 6, false), InlineData(64, 9, false), InlineData(128, 3, false), InlineData(0, 1, false)]
    [InlineData(32, 1, true), InlineData(32, 6, true), InlineData(64, 9, true), InlineData(128, 3, true), InlineData(0, 1, true)]
    public void Linear_IsBitwiseIndependentOfTheThreadCount(int g, int m, bool denormal)
    {
        if (!CpuPaths.HasAvx2) return;
        const int n = 203, k = 1025;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 41), n, k, g);
        var x = TestData.Floats(m * k, 42);
        using var one = Avx2(threads: 1, denormal);
        using var two = Avx2(threads: 2, denormal);
        TestData.AssertBitwise(Run(one, w, x, m), Run(two, w, x, m));
    }

    private static void AssertMatchesReference(Int4Matrix w, float[] x, int m, bool denormal) =>
        W4A16PathChecks.AssertMatchesReference(CpuKernelPath.Avx2, w, x, m, Tolerance, denormal);

    private static CpuBackend Avx2(int threads, bool denormal) => W4A16PathChecks.Backend(CpuKernelPath.Avx2, threads, denormal);

    private static float[] Run(IBackend backend, Int4Matrix w, float[] x, int m) => W4A16PathChecks.Run(backend, w, x, m);
}
