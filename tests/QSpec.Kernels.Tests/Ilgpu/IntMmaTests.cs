using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;
using QSpec.Kernels.Formats;
using static QSpec.Kernels.Tests.Ilgpu.IlgpuTestData;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>A simulated device with 32-lane warps, the shape the tensor-core fragments need, shared by the cases below.</summary>
public sealed class Warp32Fixture : IDisposable
{
    public IlgpuBackend Backend { get; } = IlgpuBackend.CreateCpuSimulator(new IlgpuSimulatorOptions { WarpSize = 32, WarpsPerMultiprocessor = 2 });

    public Warp32Fixture() => Backend.IntMmaMinRows = IlgpuBackend.IntMmaRows;

    public void Dispose() => Backend.Dispose();
}

/// <summary>
/// The integer linears of more than 8 rows on the INT8 tensor-core kernel (<see cref="LinearIntMmaKernel"/>; on the
/// simulator its mma is the shuffle emulation of the same fragments): bit for bit the scalar reference, and the dp4a
/// kernel, at odd shapes (N not a multiple of 16, rows not of 8, K = 70 and 172 with partial groups and padding), every
/// group size, both activation widths, and in the fused forms. Each case also checks that the tensor-core kernel ran.
/// </summary>
public sealed class IntMmaTests(Warp32Fixture fixture) : IClassFixture<Warp32Fixture>
{
    private readonly IlgpuBackend _b = fixture.Backend;

    [Theory]
    [InlineData(9, 33, 172, 0, 4)]
    [InlineData(9, 33, 172, 32, 8)]
    [InlineData(17, 17, 172, 64, 4)]
    [InlineData(16, 5, 172, 128, 8)]
    [InlineData(11, 20, 70, 32, 8)] // K = 70: 3 groups of 32 in 4 steps of 32 columns (the last all padding)
    [InlineData(9, 1, 1, 0, 4)]
    [InlineData(33, 18, 128, 128, 4)] // three passes of 16 rows, the last of one row
    public void LinearInt_OnTensorCores_IsExact(int rows, int n, int k, int groupSize, int bits)
    {
        var w = Int4Matrix.Quantize(Random(n * k, 41), n, k, groupSize);
        var x = Random(rows * k, 42);
        long before = _b.IntMmaLaunches;
        var y = _b.QuantizeAndLinearInt(w, x, rows, bits);
        Assert.Equal(before + 1, _b.IntMmaLaunches);
        AssertBitwise(IntReference(w, x, rows, bits), y, "LinearInt (mma)");
    }

    /// <summary>QKV in one launch (tiles of three matrices, none a multiple of 16), the residual add and W1|W3 + SwiGLU
    /// on the tensor cores equal the dp4a kernels' composition of the same ops bit for bit.</summary>
    [Theory]
    [InlineData(12, 32)]
    [InlineData(9, 0)]
    public void FusedLinears_OnTensorCores_EqualTheDp4aComposition(int rows, int groupSize)
    {
        const int k = 172;
        int[] widths = [33, 17, 5];
        var ws = widths.Select((n, i) => Int4Matrix.Quantize(Random(n * k, 50 + i), n, k, groupSize)).ToArray();
        var x = Random(rows * k, 49);
        var residual = Random(rows * widths[0], 48);
        IBackend b = _b;
        using var xb = _b.UploadNew(x);
        using var qa = _b.AllocateQuantizedActivations(rows, k);
        var ms = ws.Select(w => _b.CreateMatrix(w, null, w.Rows, k)).ToArray();
        var ys = widths.Select(n => _b.Allocate(rows * n)).ToArray();
        using var up = _b.Allocate(rows * widths[0]);
        using var third = _b.CreateMatrix(Int4Matrix.Quantize(Random(widths[0] * k, 53), widths[0], k, groupSize), null, widths[0], k);
        try
        {
            b.QuantizeActivations(xb, rows, k, 8, qa);

            // The reference composition on the dp4a kernels.
            _b.IntMmaMinRows = int.MaxValue;
            var plain = new float[widths.Length][];
            for (int i = 0; i < ms.Length; i++)
            {
                b.LinearInt(qa, ms[i], ys[i], rows);
                plain[i] = _b.DownloadAll(ys[i]);
            }
            b.LinearInt(qa, third, up, rows);
            var upPlain = _b.DownloadAll(up);
            var added = residual.Select((r, i) => r + plain[0][i]).ToArray();
            b.Upload(plain[0], ys[0]);
            b.SwiGlu(ys[0], up, (long)rows * widths[0]);
            var gated = _b.DownloadAll(ys[0]);
            Assert.NotEqual(plain[0], upPlain);

            _b.IntMmaMinRows = IlgpuBackend.IntMmaRows;
            long before = _b.IntMmaLaunches;
            b.LinearMany(LinearKind.Int, xb, qa, ms, ys, rows);
            for (int i = 0; i < ms.Length; i++) AssertBitwise(plain[i], _b.DownloadAll(ys[i]), $"LinearMany matrix {i} (mma)");
            b.Upload(residual, ys[0]);
            b.LinearAdd(LinearKind.Int, xb, qa, ms[0], ys[0], up, rows);
            AssertBitwise(added, _b.DownloadAll(ys[0]), "LinearAdd (mma)");
            b.LinearSwiGlu(LinearKind.Int, xb, qa, ms[0], third, ys[0], up, rows);
            AssertBitwise(gated, _b.DownloadAll(ys[0]), "LinearSwiGlu (mma)");
            Assert.Equal(before + 3, _b.IntMmaLaunches);
        }
        finally
        {
            _b.IntMmaMinRows = IlgpuBackend.IntMmaRows;
            foreach (var m in ms) m.Dispose();
            foreach (var y in ys) y.Dispose();
        }
    }

    /// <summary>Up to 8 rows stay on the dp4a kernel, which reads the weights once for all of them; and the tensor-core
    /// kernel is off unless asked for (it has not run on a GPU).</summary>
    [Fact]
    public void EightRows_StayOnDp4a_AndTheTensorCoresAreOffByDefault()
    {
        const int rows = 8, n = 17, k = 64;
        long before = _b.IntMmaLaunches;
        _b.QuantizeAndLinearInt(Int4Matrix.Quantize(Random(n * k, 60), n, k, 32), Random(rows * k, 61), rows, 8);
        Assert.Equal(before, _b.IntMmaLaunches);
        using var fresh = IlgpuBackend.CreateCpuSimulator(new IlgpuSimulatorOptions { WarpSize = 32, WarpsPerMultiprocessor = 2 });
        Assert.Equal(int.MaxValue, fresh.IntMmaMinRows);
    }
}
