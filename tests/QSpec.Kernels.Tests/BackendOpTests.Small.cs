using QSpec.Kernels.Backends;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>This part: norms, elementwise ops, RoPE, Hadamard, the KV cache and attention.</summary>
public sealed partial class BackendOpTests
{
    /// <summary>Relative error of RMSNorm (a 1025-term sum of squares in another order).</summary>
    private const float NormTolerance = 1e-5f;
    /// <summary>Relative error of SwiGLU (a vector exp within a few ulp of MathF.Exp).</summary>
    private const float SwiGluTolerance = 1e-5f;
    /// <summary>RoPE and Hadamard: the same operations as the reference up to rounding of cos/sin on other backends.</summary>
    private const float RotationTolerance = 1e-5f;
    /// <summary>Attention error relative to max |v| (dot products, exp and a weighted sum over ≤ 40 positions).</summary>
    private const float AttentionTolerance = 1e-5f;

    /// <summary>Lengths: one element, an odd one, one past a power of two.</summary>
    public static IEnumerable<object[]> LengthCases => TestCases.Cross([1], [17], [1025]);

    [Theory, MemberData(nameof(LengthCases))]
    public void RmsNorm_MatchesReference(string name, int d)
    {
        var backend = TestCases.Backend(name);
        {
            const int m = 3;
            var x = TestData.Floats(m * d, d, 4f);
            var w = TestData.Floats(d, d + 1);
            var expected = new float[m * d];
            ElementwiseReference.RmsNorm(x, w, expected, m, d, 1e-5f);
            using var xb = TestData.Upload(backend, x);
            using var wb = TestData.Upload(backend, w);
            using var yb = backend.Allocate(m * d);
            backend.RmsNorm(xb, wb, yb, m, d, 1e-5f);
            TestData.AssertClose(expected, TestData.Download(backend, yb, m * d), NormTolerance);
        }
    }

    [Theory, MemberData(nameof(LengthCases))]
    public void SwiGluAndAdd_MatchReference(string name, int n)
    {
        var backend = TestCases.Backend(name);
        {
            var gate = TestData.Floats(n, n, 8f);
            var up = TestData.Floats(n, n + 1, 2f);
            var expected = (float[])gate.Clone();
            ElementwiseReference.SwiGlu(expected, up);
            using var gb = TestData.Upload(backend, gate);
            using var ub = TestData.Upload(backend, up);
            backend.SwiGlu(gb, ub, n);
            TestData.AssertClose(expected, TestData.Download(backend, gb, n), SwiGluTolerance);

            var sum = (float[])gate.Clone();
            ElementwiseReference.Add(sum, up);
            using var xb = TestData.Upload(backend, gate);
            backend.Add(xb, ub, n);
            TestData.AssertBitwise(sum, TestData.Download(backend, xb, n));
        }
    }

    [Theory, MemberData(nameof(LengthCases))]
    public void Argmax_FindsFirstMaximum(string name, int n)
    {
        var backend = TestCases.Backend(name);
        {
            var x = TestData.Floats(n + 5, n);
            x[5 + n / 2] = 2f;
            x[5 + n - 1] = 2f; // a tie: the first index wins
            using var xb = TestData.Upload(backend, x);
            Assert.Equal(ElementwiseReference.Argmax(x.AsSpan(5, n)), backend.Argmax(xb, 5, n));
            Assert.Equal(n / 2, backend.Argmax(xb, 5, n));
        }
    }

    /// <summary>Rows × length: one row, an odd batch, a verify pass of 33 rows, and past the 256-row launch of a device.</summary>
    public static IEnumerable<object[]> ArgmaxRowsCases => TestCases.Cross([1, 17], [3, 1025], [33, 17], [257, 5]);

    [Theory, MemberData(nameof(ArgmaxRowsCases))]
    public void ArgmaxRows_EqualsArgmaxOfEachRow(string name, int rows, int n)
    {
        var backend = TestCases.Backend(name);
        const int offset = 7;
        var x = TestData.Floats(offset + rows * n + 3, rows + n);
        for (int r = 0; r < rows; r += 2)
        {
            // Every other row holds a tie at its largest value: the first index wins, per row.
            x[offset + r * n + (r % n)] = 3f + r;
            x[offset + r * n + n - 1] = 3f + r;
        }
        using var xb = TestData.Upload(backend, x);
        var indices = new int[rows];
        Array.Fill(indices, -1);
        backend.ArgmaxRows(xb, offset, n, indices);
        for (int r = 0; r < rows; r++)
        {
            int expected = ElementwiseReference.Argmax(x.AsSpan(offset + r * n, n));
            Assert.True(expected == indices[r], $"row {r}: expected {expected}, got {indices[r]}");
            if (r % 2 == 0) Assert.Equal(r % n, indices[r]);
        }
        // Past the buffer: an ArgumentOutOfRangeException, not a read beyond it.
        Assert.ThrowsAny<ArgumentOutOfRangeException>(() => backend.ArgmaxRows(xb, offset + 4, n, indices));
    }

    public static IEnumerable<object[]> RopeCases => TestCases.Cross([3, 8], [2, 64], [5, 6]);

    [Theory, MemberData(nameof(RopeCases))]
    public void Rope_MatchesReference(string name, int heads, int hs)
    {
        var backend = TestCases.Backend(name);
        {
            const int m = 3;
            int[] positions = [0, 17, 1025];
            var x = TestData.Floats(m * heads * hs, hs);
            var expected = (float[])x.Clone();
            AttentionReference.Rope(expected, m, heads, hs, positions, 10000f);
            using var xb = TestData.Upload(backend, x);
            backend.Rope(xb, m, heads, hs, positions, 10000f);
            TestData.AssertClose(expected, TestData.Download(backend, xb, x.Length), RotationTolerance);
        }
    }

    public static IEnumerable<object[]> HadamardCases => TestCases.Cross([128, 128], [256, 32], [24, 8], [12, 4], [1, 1]);

    [Theory, MemberData(nameof(HadamardCases))]
    public void Hadamard_MatchesReference(string name, int d, int b)
    {
        var backend = TestCases.Backend(name);
        {
            const int m = 3;
            var x = TestData.Floats(m * d, d + b);
            var expected = (float[])x.Clone();
            HadamardReference.Transform(expected, m, d, b);
            using var xb = TestData.Upload(backend, x);
            backend.Hadamard(xb, m, d, b);
            TestData.AssertClose(expected, TestData.Download(backend, xb, x.Length), RotationTolerance);
        }
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Embedding_CopiesRows(string name)
    {
        var backend = TestCases.Backend(name);
        const int v = 7, d = 17;
        var table = TestData.Floats(v * d, 1);
        using var tb = TestData.Upload(backend, table);
        using var xb = backend.Allocate(3 * d);
        backend.Embedding(tb, [6, 0, 6], d, xb);
        var x = TestData.Download(backend, xb, 3 * d);
        TestData.AssertBitwise(table.AsSpan(6 * d, d), x.AsSpan(0, d));
        TestData.AssertBitwise(table.AsSpan(0, d), x.AsSpan(d, d));
        TestData.AssertBitwise(table.AsSpan(6 * d, d), x.AsSpan(2 * d, d));
        foreach (int bad in new[] { v, -1 })
            Assert.Equal("tokens", Assert.ThrowsAny<ArgumentOutOfRangeException>(() => backend.Embedding(tb, [0, bad], d, xb)).ParamName);
    }

    /// <summary>Rows 1..3 of K and V [5, kvDim] go to positions 4..6 of layer 1 of a [2][9][kvDim] cache, and nowhere else.</summary>
    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void StoreKv_WritesRowsAtTheirPositions(string name)
    {
        var backend = TestCases.Backend(name);
        const int kvDim = 6, seqLen = 9, rows = 5, start = 4;
        var k = TestData.Floats(rows * kvDim, 2);
        var v = TestData.Floats(rows * kvDim, 3);
        using var kb = TestData.Upload(backend, k);
        using var vb = TestData.Upload(backend, v);
        using var kc = backend.AllocateKv(2L * seqLen * kvDim, KvPrecision.Float32);
        using var vc = backend.AllocateKv(2L * seqLen * kvDim, KvPrecision.Float32);
        var sentinel = Enumerable.Repeat(-7f, 2 * seqLen * kvDim).ToArray();
        backend.Upload(sentinel, kc);
        backend.Upload(sentinel, vc);
        backend.StoreKv(kb, vb, 1, 3, kvDim, kc, vc, (long)seqLen * kvDim, start);
        foreach (var (cache, source) in new[] { (kc, k), (vc, v) })
        {
            var got = TestData.Download(backend, cache, 2 * seqLen * kvDim);
            var expected = (float[])sentinel.Clone();
            source.AsSpan(1 * kvDim, 3 * kvDim).CopyTo(expected.AsSpan((seqLen + start) * kvDim));
            TestData.AssertBitwise(expected, got);
        }
    }

    public static IEnumerable<object[]> AttentionCases => TestCases.Cross(
        [KvPrecision.Float32, 4, 2, 16], [KvPrecision.Float32, 3, 3, 6], [KvPrecision.Float32, 8, 1, 64],
        [KvPrecision.Float16, 4, 2, 16], [KvPrecision.Float16, 3, 3, 6], [KvPrecision.Float16, 8, 1, 64]);

    [Theory, MemberData(nameof(AttentionCases))]
    public void Attention_MatchesReference(string name, KvPrecision precision, int heads, int kvHeads, int hs)
    {
            {
                var backend = TestCases.Backend(name);
                using var setup = new AttentionSetup(backend, precision, heads, kvHeads, hs);
                var expected = setup.Reference();
                var all = setup.Run(0, AttentionSetup.Rows);
                TestData.AssertClose(expected, all, AttentionTolerance, Enumerable.Repeat(setup.MaxAbsValue, all.Length).ToArray());
            }
    }

    /// <summary>
    /// Scores spread over far more than e^x's normal range (queries ±60: score gaps of several hundred), where most
    /// softmax weights underflow: still the reference's output (the CPU kernels drop weights under 2^−64 rather than
    /// compute with denormals, which some processors run ~60× slower).
    /// </summary>
    [Theory, MemberData(nameof(PrecisionCases))]
    public void Attention_MatchesReferenceWithWidelySpreadScores(string name, KvPrecision precision)
    {
        var backend = TestCases.Backend(name);
        using var setup = new AttentionSetup(backend, precision, 8, 1, 64, queryScale: 60f);
        var expected = setup.Reference();
        var all = setup.Run(0, AttentionSetup.Rows);
        TestData.AssertClose(expected, all, AttentionTolerance, Enumerable.Repeat(setup.MaxAbsValue, all.Length).ToArray());
    }

    public static IEnumerable<object[]> PrecisionCases => TestCases.Cross([KvPrecision.Float32], [KvPrecision.Float16]);

    [Theory, MemberData(nameof(PrecisionCases))]
    public void Attention_IsBatchInvariant(string name, KvPrecision precision)
    {
        {
            var backend = TestCases.Backend(name);
            using var setup = new AttentionSetup(backend, precision, 4, 2, 16);
            var all = setup.Run(0, AttentionSetup.Rows);
            int width = 4 * 16;
            for (int r = 0; r < AttentionSetup.Rows; r++)
                TestData.AssertBitwise(all.AsSpan(r * width, width), setup.Run(r, 1));
        }
    }
}
