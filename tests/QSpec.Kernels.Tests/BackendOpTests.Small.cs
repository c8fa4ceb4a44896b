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

    private static readonly int[] Lengths = [1, 17, 1025];

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void RmsNorm_MatchesReference(string name)
    {
        using var backend = TestBackends.Create(name);
        foreach (int d in Lengths)
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

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void SwiGluAndAdd_MatchReference(string name)
    {
        using var backend = TestBackends.Create(name);
        foreach (int n in Lengths)
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

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Argmax_FindsFirstMaximum(string name)
    {
        using var backend = TestBackends.Create(name);
        foreach (int n in Lengths)
        {
            var x = TestData.Floats(n + 5, n);
            x[5 + n / 2] = 2f;
            x[5 + n - 1] = 2f; // a tie: the first index wins
            using var xb = TestData.Upload(backend, x);
            Assert.Equal(ElementwiseReference.Argmax(x.AsSpan(5, n)), backend.Argmax(xb, 5, n));
            Assert.Equal(n / 2, backend.Argmax(xb, 5, n));
        }
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Rope_MatchesReference(string name)
    {
        using var backend = TestBackends.Create(name);
        foreach (var (heads, hs) in new[] { (3, 8), (2, 64), (5, 6) })
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

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Hadamard_MatchesReference(string name)
    {
        using var backend = TestBackends.Create(name);
        foreach (var (d, b) in new[] { (128, 128), (256, 32), (24, 8), (12, 4), (1, 1) })
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
    public void EmbeddingAndStoreKv_CopyRows(string name)
    {
        using var backend = TestBackends.Create(name);
        const int v = 7, d = 17;
        var table = TestData.Floats(v * d, 1);
        using var tb = TestData.Upload(backend, table);
        using var xb = backend.Allocate(3 * d);
        backend.Embedding(tb, [6, 0, 6], d, xb);
        var x = TestData.Download(backend, xb, 3 * d);
        TestData.AssertBitwise(table.AsSpan(6 * d, d), x.AsSpan(0, d));
        TestData.AssertBitwise(table.AsSpan(0, d), x.AsSpan(d, d));
        TestData.AssertBitwise(table.AsSpan(6 * d, d), x.AsSpan(2 * d, d));
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Attention_MatchesReference(string name)
    {
        foreach (var precision in new[] { KvPrecision.Float32, KvPrecision.Float16 })
            foreach (var (heads, kvHeads, hs) in new[] { (4, 2, 16), (3, 3, 6), (8, 1, 64) })
            {
                using var backend = TestBackends.Create(name);
                using var setup = new AttentionSetup(backend, precision, heads, kvHeads, hs);
                var expected = setup.Reference();
                var all = setup.Run(0, AttentionSetup.Rows);
                TestData.AssertClose(expected, all, AttentionTolerance, Enumerable.Repeat(setup.MaxAbsValue, all.Length).ToArray());
            }
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Attention_IsBatchInvariant(string name)
    {
        foreach (var precision in new[] { KvPrecision.Float32, KvPrecision.Float16 })
        {
            using var backend = TestBackends.Create(name);
            using var setup = new AttentionSetup(backend, precision, 4, 2, 16);
            var all = setup.Run(0, AttentionSetup.Rows);
            int width = 4 * 16;
            for (int r = 0; r < AttentionSetup.Rows; r++)
                TestData.AssertBitwise(all.AsSpan(r * width, width), setup.Run(r, 1));
        }
    }
}
