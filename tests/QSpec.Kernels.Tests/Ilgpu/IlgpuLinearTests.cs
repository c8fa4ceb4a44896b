using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;
using static QSpec.Kernels.Tests.Ilgpu.IlgpuTestData;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>The three linear kernels and activation quantization on the ILGPU CPU accelerator vs the scalar references.</summary>
[Collection(IlgpuCollection.Name)]
public sealed class IlgpuLinearTests(IlgpuFixture fixture)
{
    private readonly IlgpuBackend _b = fixture.Backend;

    public static TheoryData<int, int, int, int> Shapes => new()
    {
        // rows M, outputs N, columns K, group size
        { 1, 1, 1, 0 },
        { 3, 17, 172, 0 },
        { 3, 17, 172, 32 },
        { 1, 17, 172, 64 },
        { 5, 3, 172, 128 },
        { 3, 2, 17, 32 },
        { 1, 5, 600, 64 },
        { 11, 5, 200, 64 }, // two blocks of rows (8 + 3) in the W4A16 and integer kernels
        { 9, 3, 130, 0 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void LinearW4A16_MatchesReference(int rows, int n, int k, int groupSize)
    {
        var w = Int4Matrix.Quantize(Random(n * k, 1), n, k, groupSize);
        var x = Random(rows * k, 2);
        var actual = Run(w, null, x, rows, n, (xb, m, yb) => _b.LinearW4A16(xb, m, yb, rows));
        AssertMatchesW4A16Reference(w, x, rows, actual, "W4A16");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void LinearF32_MatchesReference(int rows, int n, int k, int groupSize)
    {
        _ = groupSize;
        var w = Random(n * k, 3);
        var x = Random(rows * k, 4);
        var expected = new float[rows * n];
        LinearReference.F32(x, rows, w, n, k, expected);
        var actual = Run(null, w, x, rows, n, (xb, m, yb) => _b.LinearF32(xb, m, yb, rows));
        AssertClose(expected, actual, i => DotTolerance(k, AbsDot(x, i / n, w, i % n, k)), "F32");
    }

    [Theory]
    [InlineData(1, 1, 4)]
    [InlineData(3, 17, 4)]
    [InlineData(3, 172, 8)]
    [InlineData(2, 200, 4)]
    public void QuantizeActivations_IsExact(int rows, int k, int bits)
    {
        var x = Random(rows * k, 5, 3f);
        if (rows > 1) Array.Clear(x, k, k); // an all-zero row gets scale 0
        int kp = Int4Matrix.PadColumns(k);
        var q = new sbyte[rows * kp];
        var scales = new float[rows];
        ActivationQuantReference.Quantize(x, rows, k, bits, q, scales);
        using var xb = _b.UploadNew(x);
        using var qa = _b.AllocateQuantizedActivations(rows, k);
        _b.QuantizeActivations(xb, rows, k, bits, qa);
        var (values, deviceScales) = _b.DownloadQuantized(qa, rows, k);
        Assert.Equal(q, values);
        AssertBitwise(scales, deviceScales, "scale");
    }

    [Theory]
    [InlineData(1, 1, 1, 0, 4)]
    [InlineData(3, 17, 172, 0, 4)]
    [InlineData(3, 17, 172, 32, 4)]
    [InlineData(1, 17, 172, 64, 8)]
    [InlineData(3, 5, 172, 128, 8)]
    [InlineData(2, 3, 17, 32, 8)]
    [InlineData(1, 2, 2200, 32, 4)] // 69 groups: more than one warp round of groups
    public void LinearInt_IsExact(int rows, int n, int k, int groupSize, int bits)
    {
        var w = Int4Matrix.Quantize(Random(n * k, 6), n, k, groupSize);
        var x = Random(rows * k, 7);
        AssertBitwise(IntReference(w, x, rows, bits), _b.QuantizeAndLinearInt(w, x, rows, bits), "LinearInt");
    }

    [Fact]
    public void Linear_IsBatchInvariant()
    {
        const int rows = 5, n = 3, k = 172;
        var w = Int4Matrix.Quantize(Random(n * k, 8), n, k, 32);
        var x = Random(rows * k, 9);
        using var m = _b.CreateMatrix(w, null, n, k);
        using var xb = _b.UploadNew(x);
        using var yb = _b.Allocate(rows * n);
        using var qa = _b.AllocateQuantizedActivations(rows, k);
        _b.LinearW4A16(xb, m, yb, rows);
        var batched = _b.DownloadAll(yb);
        _b.QuantizeActivations(xb, rows, k, 4, qa);
        _b.LinearInt(qa, m, yb, rows);
        var batchedInt = _b.DownloadAll(yb);
        for (int r = 0; r < rows; r++)
        {
            using var xr = _b.UploadNew(x.AsSpan(r * k, k).ToArray());
            using var yr = _b.Allocate(n);
            _b.LinearW4A16(xr, m, yr, 1);
            AssertBitwise(batched.AsSpan(r * n, n), _b.DownloadAll(yr), $"W4A16 row {r}");
            _b.QuantizeActivations(xr, 1, k, 4, qa);
            _b.LinearInt(qa, m, yr, 1);
            AssertBitwise(batchedInt.AsSpan(r * n, n), _b.DownloadAll(yr), $"Int row {r}");
        }
    }

    [Fact]
    public void Linear_RejectsMissingWeights()
    {
        using var m = _b.CreateMatrix(null, Random(4, 1), 2, 2);
        using var x = _b.Allocate(2);
        using var y = _b.Allocate(2);
        Assert.Throws<ArgumentException>(() => _b.LinearW4A16(x, m, y, 1));
    }

    private float[] Run(Int4Matrix? int4, float[]? dense, float[] x, int rows, int n, Action<DeviceBuffer, DeviceMatrix, DeviceBuffer> op)
    {
        int k = int4?.Columns ?? dense!.Length / n;
        using var m = _b.CreateMatrix(int4, dense, n, k);
        using var xb = _b.UploadNew(x);
        using var yb = _b.Allocate(rows * n);
        op(xb, m, yb);
        return _b.DownloadAll(yb);
    }
}
