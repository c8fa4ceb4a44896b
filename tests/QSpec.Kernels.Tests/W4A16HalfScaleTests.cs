using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The AVX-512 and AVX2 W4A16 kernels' fp16-scale path (<see cref="CpuBackendOptions.HalfPrecisionScalesW4A16"/>, <see cref="CpuMatrix.HalfScaleBits"/>):
/// for a matrix whose scales are all fp16 values it gives the fp32-scale path's bits exactly, at every group size, odd
/// N and K (172: last pair one block; 2200: several K chunks), every row tile and both thread counts; it reads the fp16
/// copy only (shown by poisoning the fp32 scales after the copy is built); and a matrix with one non-fp16 scale keeps
/// the fp32 path. The fp32 path itself is tested against the scalar reference in <see cref="W4A16NibbleTests"/> and
/// <see cref="W4A16Avx2Tests"/>. Each case runs on each path the machine has (AVX2 in the machine's default form).
/// </summary>
public sealed class W4A16HalfScaleTests
{
    /// <summary>(path, N, K, G, M).</summary>
    public static TheoryData<CpuKernelPath, int, int, int, int> Cases
    {
        get
        {
            var data = new TheoryData<CpuKernelPath, int, int, int, int>();
            foreach (var path in new[] { CpuKernelPath.Avx512, CpuKernelPath.Avx2 })
            {
                foreach (int g in new[] { 32, 64, 128, 0 })
                {
                    data.Add(path, 1, 1, g, 1); data.Add(path, 17, 172, g, 1); data.Add(path, 17, 172, g, 3);
                    data.Add(path, 37, 1025, g, 4); data.Add(path, 13, 2200, g, 9); data.Add(path, 6, 64, g, 2);
                }
                data.Add(path, 13, 4200, 32, 1); data.Add(path, 35, 5632, 32, 2);
            }
            return data;
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void HalfScales_GiveTheFp32ScalesBits(CpuKernelPath path, int n, int k, int g, int m)
    {
        if (!Supported(path)) return;
        var w = HalfExact(n, k, g, seed: n + k + g);
        var x = TestData.Floats(m * k, 3 * k + m);
        foreach (int threads in new[] { 1, 2 })
        {
            using var half = Backend(path, threads, halfScales: true);
            using var full = Backend(path, threads, halfScales: false);
            TestData.AssertBitwise(Run(full, w, x, m), Run(half, w, x, m));
        }
    }

    [Theory]
    [InlineData(CpuKernelPath.Avx512, 32), InlineData(CpuKernelPath.Avx512, 64), InlineData(CpuKernelPath.Avx512, 0)]
    [InlineData(CpuKernelPath.Avx2, 32), InlineData(CpuKernelPath.Avx2, 64), InlineData(CpuKernelPath.Avx2, 0)]
    public void HalfScales_ReadOnlyTheFp16Copy(CpuKernelPath path, int g)
    {
        if (!Supported(path)) return;
        const int n = 21, k = 1025, m = 3;
        var w = HalfExact(n, k, g, seed: 7);
        var x = TestData.Floats(m * k, 8);
        using var reference = Backend(path, 1, halfScales: false);
        var expected = Run(reference, w, x, m);

        using var backend = Backend(path, 2, halfScales: true);
        using var matrix = backend.CreateMatrix(w, null, n, k);
        Assert.True(((CpuMatrix)matrix).ScalesAreHalf);
        Assert.NotNull(((CpuMatrix)matrix).HalfScaleBits);
        // The fp16 copy exists now; the matrix shares (never copies) the fp32 array, so NaN there reaches any kernel that reads it.
        Array.Fill(w.Scales, float.NaN);
        TestData.AssertBitwise(expected, Run(backend, matrix, x, m));
    }

    [Fact]
    public void OneNonHalfScale_KeepsTheFp32Path()
    {
        var w = HalfExact(5, 172, 32, seed: 9);
        w.Scales[3] = BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(w.Scales[3]) + 1); // one ulp off the fp16 grid
        using var backend = new CpuBackend();
        using var matrix = backend.CreateMatrix(w, null, w.Rows, w.Columns);
        Assert.False(((CpuMatrix)matrix).ScalesAreHalf);
        Assert.Null(((CpuMatrix)matrix).HalfScaleBits);
    }

    /// <summary>An RTN matrix with its scales rounded to fp16 (the nibbles unchanged: only the scale values move).</summary>
    private static Int4Matrix HalfExact(int n, int k, int g, int seed)
    {
        var q = Int4Matrix.Quantize(TestData.Floats(n * k, seed), n, k, g);
        var scales = q.Scales.Select(s => (float)(Half)s).ToArray();
        return new Int4Matrix(n, k, g, q.Data.ToArray(), scales);
    }

    private static bool Supported(CpuKernelPath path) => path == CpuKernelPath.Avx512 ? CpuPaths.HasAvx512 : CpuPaths.HasAvx2;

    private static CpuBackend Backend(CpuKernelPath path, int threads, bool halfScales) =>
        new(new CpuBackendOptions { MaxThreads = threads, Path = path, ParallelThreshold = 0, HalfPrecisionScalesW4A16 = halfScales });

    private static float[] Run(IBackend backend, Int4Matrix w, float[] x, int m)
    {
        using var matrix = backend.CreateMatrix(w, null, w.Rows, w.Columns);
        return Run(backend, matrix, x, m);
    }

    private static float[] Run(IBackend backend, DeviceMatrix matrix, float[] x, int m)
    {
        using var xb = TestData.Upload(backend, x);
        using var yb = backend.Allocate(m * matrix.Rows);
        backend.LinearW4A16(xb, matrix, yb, m);
        return TestData.Download(backend, yb, m * matrix.Rows);
    }
}
