using QSpec.Kernels.Backends.Ilgpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;
using static QSpec.Kernels.Tests.Ilgpu.IlgpuTestData;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>
/// The kernels read warp and group sizes at run time: the launch-shape-sensitive ones (W4A16 with its shared tile,
/// grid stride and multi-warp groups; the integer linear's per-group shuffles; argmax's shared tree) give the reference's
/// results on other simulated devices than the tests' default (warp 2): warp 32 as on NVIDIA GPUs, and two
/// multiprocessors (a grid of two groups striding over the channels).
/// </summary>
public sealed class SimulatorShapeTests
{
    public static TheoryData<int, int, int> Devices => new()
    {
        // warp size, warps per multiprocessor, multiprocessors
        { 32, 4, 1 },
        { 4, 2, 2 },
    };

    [Theory]
    [MemberData(nameof(Devices))]
    public void LinearsAndArgmax_MatchReference(int warpSize, int warps, int multiprocessors)
    {
        using var b = IlgpuBackend.CreateCpuSimulator(new IlgpuSimulatorOptions
        {
            WarpSize = warpSize, WarpsPerMultiprocessor = warps, Multiprocessors = multiprocessors,
        });
        Assert.Contains($"warp {warpSize},", b.Name);
        // K = 600: two W4A16 tiles, 19 scale groups (< 32 and > 4 lanes); N = 9: a partial last channel block.
        const int rows = 5, n = 9, k = 600, groupSize = 32;
        var w = Int4Matrix.Quantize(Random(n * k, 31), n, k, groupSize);
        var x = Random(rows * k, 32);
        using var m = b.CreateMatrix(w, null, n, k);
        using var xb = b.UploadNew(x);
        using var yb = b.Allocate(rows * n);

        var expected = new float[rows * n];
        LinearReference.W4A16(x, rows, w, expected);
        b.LinearW4A16(xb, m, yb, rows);
        var wd = w.Dequantize();
        AssertClose(expected, b.DownloadAll(yb), i => DotTolerance(k, AbsDot(x, i / n, wd, i % n, k)), "W4A16");

        var q = new sbyte[rows * Int4Matrix.PadColumns(k)];
        var scales = new float[rows];
        ActivationQuantReference.Quantize(x, rows, k, 4, q, scales);
        LinearReference.Int(q, scales, rows, w, expected);
        using var qa = b.AllocateQuantizedActivations(rows, k);
        b.QuantizeActivations(xb, rows, k, 4, qa);
        b.LinearInt(qa, m, yb, rows);
        AssertBitwise(expected, b.DownloadAll(yb), "LinearInt");

        // A tie across threads: the first index wins.
        var v = Random(1025, 33);
        v[700] = v[300] = 5f;
        using var vb = b.UploadNew(v);
        Assert.Equal(300, b.Argmax(vb, 0, v.Length));
    }

    [Fact]
    public void Options_RejectShapesTheSimulatorCannotRun()
    {
        Assert.Equal("WarpSize", Assert.Throws<ArgumentOutOfRangeException>(
            () => IlgpuBackend.CreateCpuSimulator(new IlgpuSimulatorOptions { WarpSize = 1 })).ParamName);
        Assert.Equal("WarpsPerMultiprocessor", Assert.Throws<ArgumentOutOfRangeException>(
            () => IlgpuBackend.CreateCpuSimulator(new IlgpuSimulatorOptions { WarpsPerMultiprocessor = 3 })).ParamName);
        Assert.Equal("Multiprocessors", Assert.Throws<ArgumentOutOfRangeException>(
            () => IlgpuBackend.CreateCpuSimulator(new IlgpuSimulatorOptions { Multiprocessors = 0 })).ParamName);
    }

    [Theory]
    [InlineData(1024, 256)]
    [InlineData(256, 256)]
    [InlineData(128, 128)]
    [InlineData(12, 8)]
    [InlineData(4, 4)]
    [InlineData(1, 1)]
    public void ArgmaxGroup_IsLargestPowerOfTwoThatFits(int maxThreadsPerGroup, int expected) =>
        Assert.Equal(expected, ArgmaxKernel.GroupSize(maxThreadsPerGroup));
}
