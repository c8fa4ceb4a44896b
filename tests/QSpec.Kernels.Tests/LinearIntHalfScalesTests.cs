using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The integer kernels reading fp16 scales against <see cref="LinearReference.Int"/> bit for bit: AVX-512 from
/// <see cref="CpuMatrix.BlockHalfScales"/>, AVX2 from <see cref="CpuMatrix.TiledHalfScales"/>. Which scale array a call
/// read is made observable by poisoning the other one with NaN after it is built: a read of the poisoned array turns
/// the output into NaN. Each path's cases return early where the CPU lacks it.
/// </summary>
public sealed class LinearIntHalfScalesTests
{
    private static readonly Lazy<IBackend> s_half512 = new(() => Create(CpuKernelPath.Avx512, halfScales: true));
    private static readonly Lazy<IBackend> s_float512 = new(() => Create(CpuKernelPath.Avx512, halfScales: false));
    private static readonly Lazy<IBackend> s_half2 = new(() => Create(CpuKernelPath.Avx2, halfScales: true));
    private static readonly Lazy<IBackend> s_float2 = new(() => Create(CpuKernelPath.Avx2, halfScales: false));

    /// <summary>Two threads, small matrices split too, as <see cref="TestBackends"/>; the fp16 option on or off.</summary>
    private static CpuBackend Create(CpuKernelPath path, bool halfScales) => new(new CpuBackendOptions
    {
        Path = path, MaxThreads = 2, ParallelThreshold = 4096, HalfPrecisionScales = halfScales,
    });

    /// <summary>The path's backend with the fp16 option on or off, or null where this CPU cannot run the path.</summary>
    private static IBackend? Backend(string path, bool halfScales) => path switch
    {
        "avx512" => CpuPaths.HasAvx512 ? (halfScales ? s_half512 : s_float512).Value : null,
        "avx2" => CpuPaths.HasAvx2 ? (halfScales ? s_half2 : s_float2).Value : null,
        _ => throw new ArgumentOutOfRangeException(nameof(path), path, "avx512 or avx2."),
    };

    /// <summary>The fp32 scales the path reads when it does not read fp16 ones.</summary>
    private static float[] FloatScales(string path, CpuMatrix matrix) => path == "avx512" ? matrix.BlockScales : matrix.TiledScales;

    /// <summary>The fp16 scales the path reads.</summary>
    private static ushort[] HalfScaleBits(string path, CpuMatrix matrix) => path == "avx512" ? matrix.BlockHalfScales : matrix.TiledHalfScales;

    /// <summary>(path, bits, G, M, N) rows; each runs K = 172 (a half last super block) and K = 1088 (8½ super blocks).</summary>
    public static TheoryData<string, int, int, int, int> Cases()
    {
        var data = new TheoryData<string, int, int, int, int>();
        foreach (var path in new[] { "avx512", "avx2" })
            foreach (int bits in new[] { 8, 4 })
                foreach (int g in new[] { 32, 64, 128, 0 })
                    foreach (int m in new[] { 1, 2, 4, 8, 9 })
                        foreach (int n in new[] { 1, 17, 1025 })
                            data.Add(path, bits, g, m, n);
        return data;
    }

    [Theory, MemberData(nameof(Cases))]
    public void HalfScales_EqualReference_AndNeverReadFloatScales(string path, int bits, int g, int m, int n)
    {
        if (Backend(path, halfScales: true) is not { } backend) return;
        foreach (int k in new[] { 172, 1088 })
        {
            var w = RandomMatrix(n, k, g, seed: 31 * n + k + g);
            var matrix = Upload(backend, w);
            Assert.True(matrix.ScalesAreHalf);
            FloatScales(path, matrix).AsSpan().Fill(float.NaN);
            Check(backend, matrix, w, m, bits, seed: m + k);
            matrix.Dispose();
        }
    }

    [Theory]
    [InlineData("avx512", 8, 32, 1)]
    [InlineData("avx512", 8, 128, 9)]
    [InlineData("avx512", 4, 64, 4)]
    [InlineData("avx512", 4, 0, 2)]
    [InlineData("avx2", 8, 32, 1)]
    [InlineData("avx2", 8, 128, 9)]
    [InlineData("avx2", 4, 64, 4)]
    [InlineData("avx2", 4, 0, 2)]
    public void NonHalfScale_FallsBackToFloatScales_AndStaysExact(string path, int bits, int g, int m)
    {
        if (Backend(path, halfScales: true) is not { } backend) return;
        const int n = 37, k = 172;
        var w = RandomMatrix(n, k, g, seed: 5);
        w.Scales[w.Scales.Length / 2] = 0.1f; // not an fp16 value
        var matrix = Upload(backend, w);
        Assert.False(matrix.ScalesAreHalf);
        Assert.Throws<InvalidOperationException>(() => HalfScaleBits(path, matrix));
        Check(backend, matrix, w, m, bits, seed: 6);
        matrix.Dispose();
    }

    [Theory]
    [InlineData("avx512", 8, 32, 1)]
    [InlineData("avx512", 8, 64, 8)]
    [InlineData("avx512", 4, 128, 2)]
    [InlineData("avx512", 4, 0, 9)]
    [InlineData("avx2", 8, 32, 1)]
    [InlineData("avx2", 8, 64, 8)]
    [InlineData("avx2", 4, 128, 2)]
    [InlineData("avx2", 4, 0, 9)]
    public void OptionOff_ReadsFloatScales(string path, int bits, int g, int m)
    {
        if (Backend(path, halfScales: false) is not { } backend) return;
        const int n = 37, k = 1088;
        var w = RandomMatrix(n, k, g, seed: 7);
        var matrix = Upload(backend, w);
        Assert.True(matrix.ScalesAreHalf);
        HalfScaleBits(path, matrix).AsSpan().Fill(BitConverter.HalfToUInt16Bits(Half.NaN));
        Check(backend, matrix, w, m, bits, seed: 8);
        matrix.Dispose();
    }

    [Fact]
    public void TiledHalfScales_HoldTheTiledScalesAsHalfBits()
    {
        var w = RandomMatrix(37, 172, 32, seed: 9);
        using var backend = Create(CpuKernelPath.Avx2, halfScales: true);
        var matrix = Upload(backend, w);
        float[] tiled = matrix.TiledScales;
        ushort[] half = matrix.TiledHalfScales;
        Assert.Equal(tiled.Length, half.Length);
        for (int i = 0; i < tiled.Length; i++)
            Assert.Equal(BitConverter.SingleToUInt32Bits(tiled[i]), BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf(half[i])));
        matrix.Dispose();
    }

    [Fact]
    public void BlockHalfScales_HoldTheBlockScalesAsHalfBits()
    {
        var w = RandomMatrix(37, 172, 32, seed: 9);
        using var backend = Create(CpuKernelPath.Avx512, halfScales: true);
        var matrix = Upload(backend, w);
        float[] block = matrix.BlockScales;
        ushort[] half = matrix.BlockHalfScales;
        Assert.Equal(block.Length, half.Length);
        for (int i = 0; i < block.Length; i++)
            Assert.Equal(BitConverter.SingleToUInt32Bits(block[i]), BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf(half[i])));
        matrix.Dispose();
    }

    /// <summary>
    /// Random nibbles and fp16-exact scales: mostly in ±[0.001, 0.02], with fp16 subnormals, −0 and +0 mixed in so the
    /// integer conversion is exercised on every kind of finite value a scale can hold.
    /// </summary>
    private static Int4Matrix RandomMatrix(int n, int k, int g, int seed)
    {
        var rng = new Random(seed);
        var w = Int4Matrix.CreateZero(n, k, g);
        rng.NextBytes(w.Data);
        for (int i = 0; i < w.Scales.Length; i++)
        {
            float s = (i % 11) switch
            {
                3 => (float)BitConverter.UInt16BitsToHalf((ushort)rng.Next(1, 0x400)), // subnormal
                5 => -0f,
                7 => 0f,
                _ => (float)(rng.NextDouble() * 0.019 + 0.001) * (rng.Next(4) == 0 ? -1 : 1),
            };
            w.Scales[i] = (float)(Half)s;
        }
        return w;
    }

    private static CpuMatrix Upload(IBackend backend, Int4Matrix w) => (CpuMatrix)backend.CreateMatrix(w, null, w.Rows, w.Columns);

    /// <summary>Quantizes random activations on the host and the backend, runs the linear and compares bit for bit.</summary>
    private static void Check(IBackend backend, CpuMatrix matrix, Int4Matrix w, int m, int bits, int seed)
    {
        int n = w.Rows, k = w.Columns;
        var x = TestData.Floats(m * k, seed);
        var q = new sbyte[m * w.PaddedColumns];
        var s = new float[m];
        ActivationQuantReference.Quantize(x, m, k, bits, q, s);
        var expected = new float[m * n];
        LinearReference.Int(q, s, m, w, expected);

        using var xb = TestData.Upload(backend, x);
        using var qb = backend.AllocateQuantizedActivations(m, k);
        using var yb = backend.Allocate((long)m * n);
        backend.QuantizeActivations(xb, m, k, bits, qb);
        backend.LinearInt(qb, matrix, yb, m);
        TestData.AssertBitwise(expected, TestData.Download(backend, yb, m * n));
    }
}
