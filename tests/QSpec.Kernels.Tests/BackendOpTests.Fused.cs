using QSpec.Kernels.Backends;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The fused ops (<see cref="IBackend.LinearMany"/>, <see cref="IBackend.LinearSwiGlu"/>, <see cref="IBackend.LinearAdd"/>,
/// <see cref="IBackend.RmsNormQuantize"/>) against their composition from the plain ops on the same backend: bit for bit,
/// for every linear kind, at odd sizes. The plain ops are tested against the scalar references elsewhere, so this pins
/// the fused forms to the references too.
/// </summary>
public sealed partial class BackendOpTests
{
    /// <summary>(kind, activation bits) pairs: the three kinds, the integer one at 4 and 8 bits.</summary>
    private static readonly object[][] FusedKinds = [["F32", 0], ["W4A16", 0], ["Int", 4], ["Int", 8]];

    /// <summary>(N, K, G, M) shapes: one element, K = 172 with G = 64 (a 44-column last group), K = 1025, M = 9 and 17 (odd tiles), K = 2200.</summary>
    private static readonly object[][] FusedShapes = [[1, 1, 32, 1], [19, 172, 64, 9], [33, 1025, 128, 3], [5, 2200, 32, 17], [64, 256, 0, 4]];

    /// <summary>(backend, kind, bits, N, K, G, M) rows.</summary>
    public static IEnumerable<object[]> FusedCases =>
        TestCases.Cross([.. FusedKinds.SelectMany(kb => FusedShapes.Select(s => (object[])[.. kb, .. s]))]);

    [Theory, MemberData(nameof(FusedCases))]
    public void LinearMany_EqualsSeparateLinears(string name, string kind, int bits, int n, int k, int g, int m)
    {
        var backend = TestCases.Backend(name);
        var lk = Enum.Parse<LinearKind>(kind);
        int[] widths = [n, (n + 1) / 2, n + 3]; // Q, K, V-like: different N per matrix
        var w = widths.Select((wn, i) => FusedTestData.Matrix(backend, lk, wn, k, g, 31 * i + n)).ToArray();
        using var input = FusedInput.Create(backend, lk, bits, m, k, 5);
        var outs = widths.Select(wn => backend.Allocate((long)m * wn)).ToArray();
        var refs = widths.Select(wn => backend.Allocate((long)m * wn)).ToArray();
        try
        {
            backend.LinearMany(lk, input.X, input.Q, w, outs, m);
            for (int i = 0; i < w.Length; i++) FusedTestData.Plain(backend, lk, input, w[i], refs[i], m);
            for (int i = 0; i < w.Length; i++)
                TestData.AssertBitwise(TestData.Download(backend, refs[i], m * widths[i]), TestData.Download(backend, outs[i], m * widths[i]));
        }
        finally { DisposeAll(w, outs, refs); }
    }

    [Theory, MemberData(nameof(FusedCases))]
    public void LinearSwiGlu_EqualsLinearsThenSwiGlu(string name, string kind, int bits, int n, int k, int g, int m)
    {
        var backend = TestCases.Backend(name);
        var lk = Enum.Parse<LinearKind>(kind);
        using var w1 = FusedTestData.Matrix(backend, lk, n, k, g, 7);
        using var w3 = FusedTestData.Matrix(backend, lk, n, k, g, 8);
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

    [Theory, MemberData(nameof(FusedCases))]
    public void LinearAdd_EqualsLinearThenAdd(string name, string kind, int bits, int n, int k, int g, int m)
    {
        var backend = TestCases.Backend(name);
        var lk = Enum.Parse<LinearKind>(kind);
        using var w = FusedTestData.Matrix(backend, lk, n, k, g, 11);
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

    public static IEnumerable<object[]> RmsNormQuantizeCases => TestCases.Cross(
        [.. new[] { 4, 8 }.SelectMany(bits => new[] { (1, 1), (3, 17), (5, 172), (2, 1025), (9, 2048) }.Select(s => new object[] { bits, s.Item1, s.Item2 }))]);

    [Theory, MemberData(nameof(RmsNormQuantizeCases))]
    public void RmsNormQuantize_EqualsRmsNormThenQuantize(string name, int bits, int m, int k)
    {
        var backend = TestCases.Backend(name);
        const float eps = 1e-5f;
        var x = TestData.Floats(m * k, bits + k, 3f);
        if (m > 1) x.AsSpan(k, k).Clear(); // an all-zero row: rmsnorm gives zeros, the quantizer scale 0
        using var xb = TestData.Upload(backend, x);
        using var norm = TestData.Upload(backend, TestData.Floats(k, 2 * k + 1));
        using var y = backend.Allocate((long)m * k);
        using var yRef = backend.Allocate((long)m * k);
        using var q = backend.AllocateQuantizedActivations(m, k);
        using var qRef = backend.AllocateQuantizedActivations(m, k);
        backend.RmsNormQuantize(xb, norm, y, m, k, eps, bits, q);
        backend.RmsNorm(xb, norm, yRef, m, k, eps);
        backend.QuantizeActivations(yRef, m, k, bits, qRef);
        TestData.AssertBitwise(TestData.Download(backend, yRef, m * k), TestData.Download(backend, y, m * k));
        // The quantized rows compared through what reads them: an integer linear over both buffers.
        using var w = backend.CreateMatrix(Int4Matrix.Quantize(TestData.Floats(7 * k, k), 7, k, 32), null, 7, k);
        using var out1 = backend.Allocate(m * 7L);
        using var out2 = backend.Allocate(m * 7L);
        backend.LinearInt(q, w, out1, m);
        backend.LinearInt(qRef, w, out2, m);
        TestData.AssertBitwise(TestData.Download(backend, out2, m * 7), TestData.Download(backend, out1, m * 7));
    }

    private static void DisposeAll(params IDisposable[][] groups)
    {
        foreach (var group in groups)
            foreach (var d in group) d.Dispose();
    }
}
