using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>
/// This part: the multi-row tiles of the linear kernels, one named case per shape (N x K, group size, rows) on every
/// CPU path. The shapes hit odd N and K (1, 17, 1025, K = 172 with a half 128-column super block), every group layout,
/// and every row-chunk mix (4 + 2 + 1 rows), against the scalar references and bit for bit against single rows.
/// </summary>
public sealed partial class BackendOpTests
{
    private static readonly (string Name, int N, int K, int G, int M)[] TileShapes =
    [
        ("n1-k1-g0-m1", 1, 1, 0, 1), ("n17-k172-g32-m3", 17, 172, 32, 3), ("n17-k172-g64-m8", 17, 172, 64, 8),
        ("n9-k172-g128-m5", 9, 172, 128, 5), ("n1025-k172-g0-m4", 1025, 172, 0, 4), ("n17-k1025-g32-m17", 17, 1025, 32, 17),
        ("n33-k1025-g128-m2", 33, 1025, 128, 2), ("n37-k300-g64-m7", 37, 300, 64, 7), ("n20-k256-g0-m6", 20, 256, 0, 6),
        ("n1-k17-g32-m9", 1, 17, 32, 9),
    ];

    /// <summary>(CPU backend, tile shape) pairs.</summary>
    public static TheoryData<string, string> CpuTileCases
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var backend in TestBackends.CpuNames)
                foreach (var shape in TileShapes) data.Add(backend, shape.Name);
            return data;
        }
    }

    [Theory, MemberData(nameof(CpuTileCases))]
    public void LinearIntTile_EqualsReferenceAndSingleRows(string name, string shape)
    {
        var (_, n, k, g, m) = TileShapes.Single(s => s.Name == shape);
        using var backend = TestBackends.Create(name);
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, n + 3 * k), n, k, g);
        foreach (int bits in new[] { 4, 8 })
        {
            var x = TestData.Floats(m * k, k + m + bits);
            var q = new sbyte[m * w.PaddedColumns];
            var s = new float[m];
            ActivationQuantReference.Quantize(x, m, k, bits, q, s);
            var expected = new float[m * n];
            LinearReference.Int(q, s, m, w, expected);
            var batch = RunInt(backend, w, x, m, bits);
            TestData.AssertBitwise(expected, batch);
            for (int r = 0; r < m; r++)
                TestData.AssertBitwise(batch.AsSpan(r * n, n), RunInt(backend, w, x.AsSpan(r * k, k).ToArray(), 1, bits));
        }
    }

    [Theory, MemberData(nameof(CpuTileCases))]
    public void LinearW4A16Tile_MatchesReferenceAndSingleRowsBitwise(string name, string shape)
    {
        var (_, n, k, g, m) = TileShapes.Single(s => s.Name == shape);
        using var backend = TestBackends.Create(name);
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 2 * n + k), n, k, g);
        var x = TestData.Floats(m * k, k + 5 * m);
        var expected = new float[m * n];
        LinearReference.W4A16(x, m, w, expected);
        var batch = RunW4A16(backend, w, x, m);
        TestData.AssertClose(expected, batch, LinearTolerance, L1Scale(x, m, w.Dequantize(), n, k));
        for (int r = 0; r < m; r++)
            TestData.AssertBitwise(batch.AsSpan(r * n, n), RunW4A16(backend, w, x.AsSpan(r * k, k).ToArray(), 1));
    }
}
