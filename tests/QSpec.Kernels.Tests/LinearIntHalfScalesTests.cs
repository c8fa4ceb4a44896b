using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The AVX-512 integer kernel reading fp16 block scales (<see cref="CpuMatrix.BlockHalfScales"/>) against
/// <see cref="LinearReference.Int"/> bit for bit. Which scale array a call read is made observable by poisoning the
/// other one with NaN after it is built: a read of the poisoned array turns the output into NaN.
/// </summary>
public sealed class LinearIntHalfScalesTests
{
    private static readonly Lazy<IBackend> s_half = new(() => Create(halfScales: true));
    private static readonly Lazy<IBackend> s_float = new(() => Create(halfScales: false));

    /// <summary>Two threads, small matrices split too, as <see cref="TestBackends"/>; the fp16 option on or off.</summary>
    private static CpuBackend Create(bool halfScales) => new(new CpuBackendOptions
    {
        Path = CpuKernelPath.Avx512, MaxThreads = 2, ParallelThreshold = 4096, HalfPrecisionScales = halfScales,
    });

    /// <summary>(bits, G, M, N) rows; each runs K = 172 (a half last super block) and K = 1088 (8½ super blocks).</summary>
    public static TheoryData<int, int, int, int> Cases()
    {
        var data = new TheoryData<int, int, int, int>();
        foreach (int bits in new[] { 8, 4 })
            foreach (int g in new[] { 32, 64, 128, 0 })
                foreach (int m in new[] { 1, 2, 4, 8, 9 })
                    foreach (int n in new[] { 1, 17, 1025 })
                        data.Add(bits, g, m, n);
        return data;
    }

    [Theory, MemberData(nameof(Cases))]
    public void HalfScales_EqualReference_AndNeverReadFloatScales(int bits, int g, int m, int n)
    {
        if (!CpuPaths.HasAvx512) return;
        foreach (int k in new[] { 172, 1088 })
        {
            var w = RandomMatrix(n, k, g, seed: 31 * n + k + g);
            var matrix = Upload(s_half.Value, w);
            Assert.True(matrix.ScalesAreHalf);
            matrix.BlockScales.AsSpan().Fill(float.NaN);
            Check(s_half.Value, matrix, w, m, bits, seed: m + k);
            matrix.Dispose();
        }
    }

    [Theory]
    [InlineData(8, 32, 1)]
    [InlineData(8, 128, 9)]
    [InlineData(4, 64, 4)]
    [InlineData(4, 0, 2)]
    public void NonHalfScale_FallsBackToFloatScales_AndStaysExact(int bits, int g, int m)
    {
        if (!CpuPaths.HasAvx512) return;
        const int n = 37, k = 172;
        var w = RandomMatrix(n, k, g, seed: 5);
        w.Scales[w.Scales.Length / 2] = 0.1f; // not an fp16 value
        var matrix = Upload(s_half.Value, w);
        Assert.False(matrix.ScalesAreHalf);
        Assert.Throws<InvalidOperationException>(() => matrix.BlockHalfScales);
        Check(s_half.Value, matrix, w, m, bits, seed: 6);
        matrix.Dispose();
    }

    [Theory]
    [InlineData(8, 32, 1)]
    [InlineData(8, 64, 8)]
    [InlineData(4, 128, 2)]
    [InlineData(4, 0, 9)]
    public void OptionOff_ReadsFloatScales(int bits, int g, int m)
    {
        if (!CpuPaths.HasAvx512) return;
        const int n = 37, k = 1088;
        var w = RandomMatrix(n, k, g, seed: 7);
        var matrix = Upload(s_float.Value, w);
        Assert.True(matrix.ScalesAreHalf);
        matrix.BlockHalfScales.AsSpan().Fill(BitConverter.HalfToUInt16Bits(Half.NaN));
        Check(s_float.Value, matrix, w, m, bits, seed: 8);
        matrix.Dispose();
    }

    [Fact]
    public void BlockHalfScales_HoldTheBlockScalesAsHalfBits()
    {
        var w = RandomMatrix(37, 172, 32, seed: 9);
        using var backend = Create(halfScales: true);
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
