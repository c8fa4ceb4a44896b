using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;
using QSpec.Kernels.Formats;
using static QSpec.Kernels.Tests.Ilgpu.IlgpuTestData;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>
/// Split-K W4A16 (IlgpuBackend.SplitK.cs), forced on the CPU accelerator through the part-count override: against the
/// scalar reference at odd shapes, batch invariant, fused launches equal to the plain ops they replace when matrices
/// of one launch split differently, and the rule's choices on a GPU-sized device.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class IlgpuSplitKTests(IlgpuFixture fixture)
{
    private readonly IlgpuBackend _b = fixture.Backend;

    public static TheoryData<int, int, int, int, int> Shapes => new()
    {
        // parts asked, rows M, outputs N, columns K, group size
        { 2, 1, 5, 600, 64 },   // 20 quads: two parts of 10
        { 3, 3, 17, 1000, 32 }, // 32 quads: spans of 11, 11, 10
        { 5, 9, 3, 172, 0 },    // 6 quads: span 2, so 3 parts; two blocks of rows; per-channel scales
        { 16, 2, 4, 300, 128 }, // 10 quads: clamped to 10 parts of one quad
        { 2, 70, 3, 130, 32 },  // two chunks of rows (64 + 6)
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void SplitLinear_MatchesReference_InTwoLaunchesPerChunkOfRows(int parts, int rows, int n, int k, int groupSize)
    {
        var w = Int4Matrix.Quantize(Random(n * k, 11), n, k, groupSize);
        var x = Random(rows * k, 12);
        using var m = _b.CreateMatrix(w, null, n, k);
        using var xb = _b.UploadNew(x);
        using var yb = _b.UploadNew(Enumerable.Repeat(float.NaN, rows * n).ToArray()); // every output must be written
        long launches = Forced((_, _) => parts, () => _b.LinearW4A16(xb, m, yb, rows));
        Assert.Equal(2 * ((rows + IlgpuBackend.SplitKRows - 1) / IlgpuBackend.SplitKRows), launches);
        AssertMatchesW4A16Reference(w, x, rows, _b.DownloadAll(yb), "split W4A16");
    }

    [Fact]
    public void SplitLinear_IsBatchInvariant()
    {
        const int rows = 11, n = 5, k = 600;
        var w = Int4Matrix.Quantize(Random(n * k, 13), n, k, 64);
        var x = Random(rows * k, 14);
        using var m = _b.CreateMatrix(w, null, n, k);
        using var xb = _b.UploadNew(x);
        using var yb = _b.Allocate(rows * n);
        Forced((_, _) => 3, () =>
        {
            _b.LinearW4A16(xb, m, yb, rows);
            var batched = _b.DownloadAll(yb);
            for (int r = 0; r < rows; r++)
            {
                using var xr = _b.UploadNew(x.AsSpan(r * k, k).ToArray());
                using var yr = _b.Allocate(n);
                _b.LinearW4A16(xr, m, yr, 1);
                AssertBitwise(batched.AsSpan(r * n, n), _b.DownloadAll(yr), $"row {r}");
            }
        });
    }

    /// <summary>
    /// Narrow matrices (N &lt; 8) split in 3 and the wide one stays whole, so the fused QKV launch mixes a one-part
    /// matrix (which must give the unsplit kernel's bits) with split ones; LinearAdd and LinearSwiGlu split too.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(67)] // two chunks of rows
    public void FusedSplitLaunches_EqualThePlainOps_BitForBit(int rows)
    {
        const int k = 1000, wide = 10, narrow = 5;
        IBackend b = _b;
        using var x = _b.UploadNew(Random(rows * k, 15));
        using var wq = Matrix(wide, k, 16);
        using var wk = Matrix(narrow, k, 17);
        using var wv = Matrix(narrow, k, 18);
        using var w3 = Matrix(narrow, k, 19);
        using var yq = _b.Allocate(rows * wide);
        using var yk = _b.Allocate(rows * narrow);
        using var yv = _b.Allocate(rows * narrow);
        using var up = _b.Allocate(rows * narrow);
        var residual = Random(rows * narrow, 20);
        Forced((n, _) => n < 8 ? 3 : 1, () =>
        {
            b.LinearMany(LinearKind.W4A16, x, null, [wq, wk, wv], [yq, yk, yv], rows);
            var fused = (Q: _b.DownloadAll(yq), K: _b.DownloadAll(yk), V: _b.DownloadAll(yv));
            _b.LinearW4A16(x, wq, yq, rows);
            _b.LinearW4A16(x, wk, yk, rows);
            _b.LinearW4A16(x, wv, yv, rows);
            AssertBitwise(_b.DownloadAll(yq), fused.Q, "Q (one part)");
            AssertBitwise(_b.DownloadAll(yk), fused.K, "K");
            AssertBitwise(_b.DownloadAll(yv), fused.V, "V");

            using var sum = _b.UploadNew(residual);
            b.LinearAdd(LinearKind.W4A16, x, null, wk, sum, yv, rows);
            using var plain = _b.UploadNew(residual);
            _b.LinearW4A16(x, wk, yk, rows);
            b.Add(plain, yk, (long)rows * narrow);
            AssertBitwise(_b.DownloadAll(plain), _b.DownloadAll(sum), "LinearAdd");

            b.LinearSwiGlu(LinearKind.W4A16, x, null, wv, w3, yk, up, rows);
            var gate = _b.DownloadAll(yk);
            _b.LinearW4A16(x, wv, yv, rows);
            _b.LinearW4A16(x, w3, up, rows);
            b.SwiGlu(yv, up, (long)rows * narrow);
            AssertBitwise(_b.DownloadAll(yv), gate, "LinearSwiGlu");
        });
    }

    /// <summary>The rule on an H100-sized device (132 SMs, warp 32) and on the CPU accelerator.</summary>
    [Theory]
    [InlineData(2560, 64, 1)]   // TinyLlama fused QKV (K = 2048): wide
    [InlineData(256, 64, 1)]    // narrow, but one load step per row (K = 2048): nothing to split
    [InlineData(4096, 448, 1)]  // Llama-3-8B W2 (K = 14336): 4096 > 2112 / 2
    [InlineData(1100, 448, 1)]  // 2112 / 1100 = 1
    [InlineData(512, 448, 3)]   // narrow and long: min(2112 / 512, 448 / 128) = min(4, 3)
    [InlineData(64, 8192, 16)]  // clamped to MaxSplitKParts
    public void SplitKRule_SplitsOnlyNarrowLongMatrices(int n, int quads, int expected)
    {
        Assert.Equal(expected, IlgpuBackend.SplitKRule(n, quads, multiprocessors: 132, warpSize: 32));
        Assert.Equal(1, _b.SplitKParts(n, quads)); // the CPU accelerator never splits by the rule
    }

    /// <summary>Runs <paramref name="body"/> with the part-count override set; returns the kernels it launched.</summary>
    private long Forced(Func<int, int, int> parts, Action body)
    {
        long before = _b.KernelLaunches;
        _b.SplitKPartsOverride = parts;
        try { body(); }
        finally { _b.SplitKPartsOverride = null; }
        return _b.KernelLaunches - before;
    }

    private DeviceMatrix Matrix(int n, int k, int seed) =>
        _b.CreateMatrix(Int4Matrix.Quantize(Random(n * k, seed), n, k, 32), null, n, k);
}
