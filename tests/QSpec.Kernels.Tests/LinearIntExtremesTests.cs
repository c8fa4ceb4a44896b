using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The integer linear at the extremes of its intermediate sums, against <see cref="LinearReference.Int"/> bit for bit:
/// every nibble 15 (q = +7) or 0 (q = −8) times activations all at ±qmax. The AVX-512 kernel adds up to four vpmaddubsw
/// results in int16 before widening (at most 4 · 2 · 2 · 15 · 127 = 30480 &lt; 2¹⁵); random data never comes near that
/// bound, these rows sit on it.
/// </summary>
public sealed class LinearIntExtremesTests
{
    /// <summary>(backend, bits, nibble byte, activation pattern, K, G, M) rows.</summary>
    public static IEnumerable<object[]> Cases => TestCases.Cross(
        [.. from bits in new[] { 4, 8 }
            from nibbles in new[] { 0xFF, 0x00, 0x0F }
            from pattern in new[] { 1, -1, 0 }
            from shape in new[] { (2048, 0, 1), (2048, 32, 4), (2048, 128, 2), (172, 64, 5), (1025, 32, 1) }
            select new object[] { bits, nibbles, pattern, shape.Item1, shape.Item2, shape.Item3 }]);

    [Theory, MemberData(nameof(Cases))]
    public void LinearInt_AtTheSumBounds_EqualsReference(string name, int bits, int nibbles, int pattern, int k, int g, int m)
    {
        var backend = TestCases.Backend(name);
        const int n = 37; // two 16-channel tiles and a partial one
        var w = Int4Matrix.CreateZero(n, k, g);
        w.Data.AsSpan().Fill((byte)nibbles);
        for (int i = 0; i < w.Scales.Length; i++) w.Scales[i] = 0.5f + i % 7 * 0.125f;
        // pattern 1: all +1 (every code +qmax), −1: all −1, 0: ±1 alternating by 32-column chunk.
        var x = new float[m * k];
        for (int i = 0; i < x.Length; i++) x[i] = pattern != 0 ? pattern : ((i % k) / 32 % 2 == 0 ? 1f : -1f);
        int kp = w.PaddedColumns;
        var q = new sbyte[m * kp];
        var s = new float[m];
        ActivationQuantReference.Quantize(x, m, k, bits, q, s);
        var expected = new float[m * n];
        LinearReference.Int(q, s, m, w, expected);

        using var matrix = backend.CreateMatrix(w, null, n, k);
        using var xb = TestData.Upload(backend, x);
        using var qb = backend.AllocateQuantizedActivations(m, k);
        using var yb = backend.Allocate((long)m * n);
        backend.QuantizeActivations(xb, m, k, bits, qb);
        backend.LinearInt(qb, matrix, yb, m);
        TestData.AssertBitwise(expected, TestData.Download(backend, yb, m * n));
    }
}
