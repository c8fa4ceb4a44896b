using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>
/// Every <see cref="IBackend"/> op against the scalar references in Ops/, on each backend of <see cref="TestBackends"/>,
/// at odd sizes. This part: the linear ops and the activation quantizer.
/// </summary>
public sealed partial class BackendOpTests
{
    /// <summary>Float linear error bound, relative to Σ_k |x_k·w_k| (float sums of ≤ 1025 terms in any fixed order).</summary>
    private const float LinearTolerance = 2e-5f;

    /// <summary>(N, K, G, M) cases: single elements, K = 172 with every group size, K = 1025, N = 1025, M up to 17, and K = 2200 (more than one K chunk of the blocked kernels).</summary>
    private static readonly object[][] LinearShapes =
    [
        [1, 1, 0, 1], [17, 172, 32, 3], [17, 172, 64, 17], [9, 172, 128, 5], [1025, 172, 0, 3],
        [5, 1025, 32, 1], [3, 1025, 128, 17], [17, 64, 64, 2], [4, 17, 32, 4], [3, 2200, 64, 5],
    ];

    /// <summary>(backend, N, K, G, M) rows.</summary>
    public static IEnumerable<object[]> LinearCases => TestCases.Cross(LinearShapes);

    /// <summary>(backend, bits, N, K, G, M) rows.</summary>
    public static IEnumerable<object[]> LinearIntCases =>
        TestCases.Cross([.. new[] { 4, 8 }.SelectMany(bits => LinearShapes.Select(s => (object[])[bits, .. s]))]);

    [Theory, MemberData(nameof(LinearCases))]
    public void LinearW4A16_MatchesReference(string name, int n, int k, int g, int m)
    {
        var backend = TestCases.Backend(name);
        {
            var w = Int4Matrix.Quantize(TestData.Floats(n * k, n + k), n, k, g);
            var x = TestData.Floats(m * k, 7 * k + m);
            var expected = new float[m * n];
            LinearReference.W4A16(x, m, w, expected);
            TestData.AssertClose(expected, RunW4A16(backend, w, x, m), LinearTolerance, L1Scale(x, m, w.Dequantize(), n, k));
        }
    }

    public static IEnumerable<object[]> W4A16InvarianceCases => TestCases.Cross([37, 172, 32, 17], [9, 1025, 0, 3], [5, 200, 64, 6], [5, 2200, 128, 6]);

    [Theory, MemberData(nameof(W4A16InvarianceCases))]
    public void LinearW4A16_IsBatchInvariant(string name, int n, int k, int g, int m)
    {
        var backend = TestCases.Backend(name);
        {
            var w = Int4Matrix.Quantize(TestData.Floats(n * k, 3), n, k, g);
            var x = TestData.Floats(m * k, 4);
            var batch = RunW4A16(backend, w, x, m);
            for (int r = 0; r < m; r++)
                TestData.AssertBitwise(batch.AsSpan(r * n, n), RunW4A16(backend, w, x.AsSpan(r * k, k).ToArray(), 1));
        }
    }

    [Theory, MemberData(nameof(LinearCases))]
    public void LinearF32_MatchesReference(string name, int n, int k, int g, int m)
    {
        _ = g; // the float path has no groups; the shapes are shared with the INT4 cases
        var backend = TestCases.Backend(name);
        {
            var w = TestData.Floats(n * k, n * k);
            var x = TestData.Floats(m * k, m + 11);
            var expected = new float[m * n];
            LinearReference.F32(x, m, w, n, k, expected);
            TestData.AssertClose(expected, RunF32(backend, w, n, k, x, m), LinearTolerance, L1Scale(x, m, w, n, k));
        }
    }

    public static IEnumerable<object[]> F32InvarianceCases => TestCases.Cross([23, 172, 17], [3, 1025, 5], [7, 17, 3], [5, 2200, 6]);

    [Theory, MemberData(nameof(F32InvarianceCases))]
    public void LinearF32_IsBatchInvariant(string name, int n, int k, int m)
    {
        var backend = TestCases.Backend(name);
        {
            var w = TestData.Floats(n * k, 5);
            var x = TestData.Floats(m * k, 6);
            var batch = RunF32(backend, w, n, k, x, m);
            for (int r = 0; r < m; r++)
                TestData.AssertBitwise(batch.AsSpan(r * n, n), RunF32(backend, w, n, k, x.AsSpan(r * k, k).ToArray(), 1));
        }
    }

    public static IEnumerable<object[]> QuantizeCases => TestCases.Cross(
        [.. new[] { 4, 8 }.SelectMany(bits => new[] { (1, 1), (3, 17), (3, 172), (2, 1025) }.Select(s => new object[] { bits, s.Item1, s.Item2 }))]);

    [Theory, MemberData(nameof(QuantizeCases))]
    public void QuantizeActivations_EqualsReferenceBitForBit(string name, int bits, int m, int k)
    {
        var backend = TestCases.Backend(name);
            {
                var x = TestData.Floats(m * k, bits * k, 3f);
                x.AsSpan(0, k).Clear(); // an all-zero row gets scale 0
                if (k > 4) x[k + 3] = x[k + 2] = 0.5f * (k + 1); // exact ties after scaling stress round-half-even
                int kp = Int4Matrix.PadColumns(k);
                var q = new sbyte[m * kp];
                var s = new float[m];
                ActivationQuantReference.Quantize(x, m, k, bits, q, s);
                using var xb = TestData.Upload(backend, x);
                using var qb = backend.AllocateQuantizedActivations(m, k);
                backend.QuantizeActivations(xb, m, k, bits, qb);
                backend.Synchronize();
                if (qb is CpuQuantizedActivations cq)
                {
                    Assert.Equal(q, cq.Values.AsSpan(0, m * kp).ToArray());
                    TestData.AssertBitwise(s, cq.Scales.AsSpan(0, m));
                    for (int c = 0; c < m * kp / 32; c++)
                        Assert.Equal(q.AsSpan(c * 32, 32).ToArray().Sum(v => v), cq.ChunkSums[c]);
                }
                else if (backend is Backends.Ilgpu.IlgpuBackend ilgpu) // the CPU accelerator and CUDA
                {
                    var (values, scales) = ilgpu.DownloadQuantized(qb, m, k);
                    Assert.Equal(q, values);
                    TestData.AssertBitwise(s, scales);
                }
                else Assert.Fail($"No way to read {qb.GetType().Name} back: add one for backend {name}.");
            }
    }

    [Theory, MemberData(nameof(LinearIntCases))]
    public void LinearInt_EqualsReferenceBitForBit(string name, int bits, int n, int k, int g, int m)
    {
        var backend = TestCases.Backend(name);
            {
                var w = Int4Matrix.Quantize(TestData.Floats(n * k, n + 2 * k), n, k, g);
                var x = TestData.Floats(m * k, k - m);
                int kp = w.PaddedColumns;
                var q = new sbyte[m * kp];
                var s = new float[m];
                ActivationQuantReference.Quantize(x, m, k, bits, q, s);
                var expected = new float[m * n];
                LinearReference.Int(q, s, m, w, expected);
                TestData.AssertBitwise(expected, RunInt(backend, w, x, m, bits));
            }
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void LinearInt_IsBatchInvariant(string name)
    {
        var backend = TestCases.Backend(name);
        const int n = 13, k = 300, m = 17;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 8), n, k, 32);
        var x = TestData.Floats(m * k, 9);
        var batch = RunInt(backend, w, x, m, 4);
        for (int r = 0; r < m; r++)
            TestData.AssertBitwise(batch.AsSpan(r * n, n), RunInt(backend, w, x.AsSpan(r * k, k).ToArray(), 1, 4));
    }

    private static float[] RunW4A16(IBackend backend, Int4Matrix w, float[] x, int m) => W4A16PathChecks.Run(backend, w, x, m);

    private static float[] RunF32(IBackend backend, float[] w, int n, int k, float[] x, int m)
    {
        using var matrix = backend.CreateMatrix(null, w, n, k);
        using var xb = TestData.Upload(backend, x);
        using var yb = backend.Allocate(m * n);
        backend.LinearF32(xb, matrix, yb, m);
        return TestData.Download(backend, yb, m * n);
    }

    private static float[] RunInt(IBackend backend, Int4Matrix w, float[] x, int m, int bits)
    {
        using var matrix = backend.CreateMatrix(w, null, w.Rows, w.Columns);
        using var xb = TestData.Upload(backend, x);
        using var qb = backend.AllocateQuantizedActivations(m, w.Columns);
        using var yb = backend.Allocate(m * w.Rows);
        backend.QuantizeActivations(xb, m, w.Columns, bits, qb);
        backend.LinearInt(qb, matrix, yb, m);
        return TestData.Download(backend, yb, m * w.Rows);
    }

    /// <summary>Σ_k |x[m, k]·w[n, k]| per output, the scale of any summation-order error.</summary>
    internal static float[] L1Scale(float[] x, int m, float[] w, int n, int k)
    {
        var s = new float[m * n];
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++)
            {
                double a = 0;
                for (int i = 0; i < k; i++) a += Math.Abs((double)x[r * k + i] * w[j * k + i]);
                s[r * n + j] = (float)a + 1e-20f;
            }
        return s;
    }
}
