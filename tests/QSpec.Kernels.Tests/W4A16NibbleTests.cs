using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The shuffle-free AVX-512 W4A16 kernel (<see cref="LinearW4A16Nibble"/>) and its activation permutation: the layout
/// against its scalar definition, the products against <see cref="LinearReference.W4A16"/> for every group size at odd
/// sizes (K = 172 and 1025 end in a single-block pair; K = 2200 spans several K chunks), and bit-for-bit invariance
/// over the batch size (every row tile 1..4 and their mixes), the thread count and the position of a row in the batch.
/// Each kernel case runs in both forms (denormal: the weight read as a denormal float; else fold, 1.5 + q/16, at G = 32
/// and 64 and the table at wider groups), forced per backend. All cases need AVX-512F and return at once on a machine without it (the other backends have their own tests).
/// </summary>
public sealed class W4A16NibbleTests
{
    /// <summary>Same bound as the backend tests: relative to Σ_k |x_k·w_k|.</summary>
    private const float Tolerance = 2e-5f;

    public static TheoryData<int, bool, bool> PermuteCases => new()
    {
        { 1, true, false }, { 64, false, false }, { 172, true, false }, { 1025, false, false }, { 2200, true, false }, { 2200, false, false },
        { 1, true, true }, { 172, true, true }, { 1025, false, true }, { 2200, true, true },
    };

    /// <summary>
    /// The layout against its definition; in the denormal form vector i is x·2^(E − 4·(i mod 4)) and the offsets are
    /// −8·2^(E − 149) times the fold form's sums (exact power-of-two scalings of the same floats).
    /// </summary>
    [Theory, MemberData(nameof(PermuteCases))]
    public void Permute_PutsEveryColumnWhereItsNibbleComesOut(int k, bool split, bool denormal)
    {
        if (!CpuPaths.HasAvx512) return;
        const int rows = 3, e = LinearW4A16NibbleActivations.DenormalExponent;
        var x = TestData.Floats(rows * k, k + 1);
        var (buffer, offset, xs) = LinearW4A16NibbleActivations.Permute(x, rows, k, split, denormal);
        Assert.Equal((k + 127) / 128 * LinearW4A16Nibble.PairFloats, xs);
        for (int m = 0; m < rows; m++)
            for (int p = 0; p < xs / LinearW4A16Nibble.PairFloats; p++)
            {
                int at = offset + m * xs + p * LinearW4A16Nibble.PairFloats;
                var v = new float[8][];
                for (int i = 0; i < 8; i++)
                {
                    v[i] = new float[16];
                    for (int l = 0; l < 16; l++)
                    {
                        int col = 128 * p + 64 * (l / 8) + 4 * (l % 8) + i / 2 + 32 * (i % 2);
                        v[i][l] = col < k ? x[m * k + col] : 0f;
                        float expected = denormal ? v[i][l] * MathF.ScaleB(1f, e - 4 * (i % 4)) : v[i][l];
                        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(buffer[at + 16 * i + l]));
                    }
                }
                for (int l = 0; l < 16; l++)
                {
                    float even = (v[0][l] + v[2][l]) + (v[4][l] + v[6][l]), odd = (v[1][l] + v[3][l]) + (v[5][l] + v[7][l]);
                    float c = denormal ? -8f * MathF.ScaleB(1f, e - 149) : -1.5f;
                    float s8 = split ? c * even : c * (even + odd), s9 = split ? c * odd : 0f;
                    Assert.Equal(BitConverter.SingleToInt32Bits(s8), BitConverter.SingleToInt32Bits(buffer[at + 128 + l]));
                    Assert.Equal(BitConverter.SingleToInt32Bits(s9), BitConverter.SingleToInt32Bits(buffer[at + 144 + l]));
                }
            }
    }

    /// <summary>(N, K, G, M, denormal): every group size at K = 172 (last pair one block, last group partial), 1025, 2200, 64, 1.</summary>
    public static TheoryData<int, int, int, int, bool> ReferenceCases
    {
        get
        {
            var data = new TheoryData<int, int, int, int, bool>();
            foreach (bool denormal in new[] { false, true })
                foreach (int g in new[] { 32, 64, 128, 0 })
                {
                    data.Add(17, 172, g, 1, denormal); data.Add(17, 172, g, 3, denormal); data.Add(6, 172, g, 17, denormal);
                    data.Add(5, 1025, g, 1, denormal); data.Add(3, 1025, g, 4, denormal); data.Add(3, 2200, g, 5, denormal);
                    data.Add(4, 64, g, 2, denormal); data.Add(1, 1, g, 1, denormal); data.Add(9, 17, g, 7, denormal);
                }
            return data;
        }
    }

    [Theory, MemberData(nameof(ReferenceCases))]
    public void Linear_MatchesReference(int n, int k, int g, int m, bool denormal)
    {
        if (!CpuPaths.HasAvx512) return;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, n + 3 * k + g), n, k, g);
        var x = TestData.Floats(m * k, 5 * k + m);
        AssertMatchesReference(w, x, m, denormal);
    }

    /// <summary>
    /// The denormal form's documented range: activations from 2^−50 to 2^46 in one row (x·2^80 finite, every product
    /// normal), and a row scaled whole by 2^40 or 2^−40, stay within the tolerance of the reference.
    /// </summary>
    [Theory, InlineData(32, 0), InlineData(64, 0), InlineData(128, 0), InlineData(0, 0), InlineData(32, 40), InlineData(32, -40)]
    public void Linear_DenormalFormKeepsItsRange(int g, int exponent)
    {
        if (!CpuPaths.HasAvx512) return;
        const int n = 9, k = 1025, m = 2;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 51), n, k, g);
        var x = TestData.Floats(m * k, 52);
        for (int i = 0; i < x.Length; i++)
            x[i] = exponent != 0 ? MathF.ScaleB(x[i], exponent) : MathF.ScaleB(x[i], -50 + i % 97); // 2^−50 .. 2^46
        AssertMatchesReference(w, x, m, denormal: true);
    }

    /// <summary>
    /// All-positive activations and weights near the top of the range, K = 5632 (the w2 shape): no cancellation, so the
    /// kernel's offset form (weights 1.5 + q/16, the 1.5·Σx removed per group) shows its worst rounding here.
    /// </summary>
    [Theory, InlineData(32, false), InlineData(32, true), InlineData(64, true), InlineData(0, false), InlineData(0, true)]
    public void Linear_StaysWithinToleranceWithoutCancellation(int g, bool denormal)
    {
        if (!CpuPaths.HasAvx512) return;
        const int n = 8, k = 5632, m = 2;
        var wf = TestData.Floats(n * k, 11);
        for (int i = 0; i < wf.Length; i++) wf[i] = 0.5f + 0.5f * MathF.Abs(wf[i]);
        var x = TestData.Floats(m * k, 12);
        for (int i = 0; i < x.Length; i++) x[i] = MathF.Abs(x[i]);
        AssertMatchesReference(Int4Matrix.Quantize(wf, n, k, g), x, m, denormal);
    }

    /// <summary>(N, K, G, M) for the invariance cases: N not a multiple of the 4-channel block, several K chunks, every row chunking.</summary>
    public static TheoryData<int, int, int, int, bool> InvarianceCases
    {
        get
        {
            var data = new TheoryData<int, int, int, int, bool>();
            foreach (bool denormal in new[] { false, true })
            {
                foreach (int g in new[] { 32, 64, 128, 0 })
                    foreach (int m in new[] { 2, 3, 5, 6, 7, 9, 17 })
                        data.Add(37, g == 32 ? 2200 : 1025, g, m, denormal);
                data.Add(37, 172, 32, 17, denormal);
                // K > 4096: row chunks of 2 even for M <= 4.
                data.Add(13, 4200, 32, 3, denormal); data.Add(13, 4200, 0, 4, denormal);
            }
            return data;
        }
    }

    [Theory, MemberData(nameof(InvarianceCases))]
    public void Linear_RowsAreBitwiseIndependentOfTheBatch(int n, int k, int g, int m, bool denormal)
    {
        if (!CpuPaths.HasAvx512) return;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 31 + g), n, k, g);
        var x = TestData.Floats(m * k, 32 + m);
        using var backend = Avx512(threads: 1, denormal);
        var batch = Run(backend, w, x, m);
        for (int r = 0; r < m; r++)
            TestData.AssertBitwise(batch.AsSpan(r * n, n), Run(backend, w, x.AsSpan(r * k, k).ToArray(), 1));
        // Row r = m / 2 as the last row of a batch of r + 1 (another tile height and position).
        int h = m / 2;
        var shorter = Run(backend, w, x.AsSpan(0, (h + 1) * k).ToArray(), h + 1);
        TestData.AssertBitwise(batch.AsSpan(h * n, n), shorter.AsSpan(h * n, n));
    }

    [Theory, InlineData(32, 1, false), InlineData(32, 6, false), InlineData(128, 3, false), InlineData(0, 1, false),
     InlineData(32, 1, true), InlineData(64, 6, true), InlineData(128, 3, true), InlineData(0, 1, true)]
    public void Linear_IsBitwiseIndependentOfTheThreadCount(int g, int m, bool denormal)
    {
        if (!CpuPaths.HasAvx512) return;
        const int n = 203, k = 1025;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 41), n, k, g);
        var x = TestData.Floats(m * k, 42);
        using var one = Avx512(threads: 1, denormal);
        using var two = Avx512(threads: 2, denormal);
        TestData.AssertBitwise(Run(one, w, x, m), Run(two, w, x, m));
    }

    private static void AssertMatchesReference(Int4Matrix w, float[] x, int m, bool denormal = false) =>
        W4A16PathChecks.AssertMatchesReference(CpuKernelPath.Avx512, w, x, m, Tolerance, denormal);

    private static CpuBackend Avx512(int threads, bool denormal = false) => W4A16PathChecks.Backend(CpuKernelPath.Avx512, threads, denormal);

    private static float[] Run(IBackend backend, Int4Matrix w, float[] x, int m) => W4A16PathChecks.Run(backend, w, x, m);
}
