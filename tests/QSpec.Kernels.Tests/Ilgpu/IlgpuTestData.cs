using QSpec.Kernels.Backends;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>Deterministic inputs and named tolerances for the ILGPU kernel tests.</summary>
internal static class IlgpuTestData
{
    /// <summary>
    /// Relative tolerance of a float dot product of length k against the scalar reference: a different summation order
    /// (lane-strided + warp tree) changes the result by at most about k · 2^-24 of Σ|terms|; the factor 2 covers the
    /// products' own rounding.
    /// </summary>
    public static double DotTolerance(int k, double absSum) => 2.0 * (k + 1) * Math.Pow(2, -24) * absSum + 1e-30;

    /// <summary>Σ_i |x[row, i] · w[col, i]| over k columns: the scale of a dot product's rounding error.</summary>
    public static double AbsDot(float[] x, int row, float[] w, int col, int k)
    {
        double s = 0;
        for (int i = 0; i < k; i++) s += Math.Abs((double)x[row * k + i] * w[col * k + i]);
        return s;
    }

    /// <summary>RMSNorm: the sum of squares is reordered (relative to |y|, plus an absolute floor).</summary>
    public const float RmsNormRelative = 2e-6f;

    /// <summary>Attention: reordered exp sum (tree vs sequential); outputs are convex combinations of O(1) values.</summary>
    public const float AttentionAbsolute = 2e-6f;

    /// <summary>SwiGLU: exp may differ by a few ulp on CUDA (ex2.approx); identical code on the CPU accelerator.</summary>
    public const float SwiGluRelative = 4e-6f;

    /// <summary>
    /// The integer linear's reference: x [rows, k] quantized to <paramref name="bits"/> per row, times w (the expected
    /// output of QuantizeActivations followed by LinearInt, bit for bit).
    /// </summary>
    public static float[] IntReference(Formats.Int4Matrix w, float[] x, int rows, int bits)
    {
        int k = w.Columns;
        var q = new sbyte[rows * Formats.Int4Matrix.PadColumns(k)];
        var scales = new float[rows];
        Ops.ActivationQuantReference.Quantize(x, rows, k, bits, q, scales);
        var expected = new float[rows * w.Rows];
        Ops.LinearReference.Int(q, scales, rows, w, expected);
        return expected;
    }

    /// <summary>QuantizeActivations then LinearInt of x [rows, k] on the device, downloaded.</summary>
    public static float[] QuantizeAndLinearInt(this IBackend backend, Formats.Int4Matrix w, float[] x, int rows, int bits)
    {
        int k = w.Columns;
        using var xb = backend.UploadNew(x);
        using var qa = backend.AllocateQuantizedActivations(rows, k);
        using var m = backend.CreateMatrix(w, null, w.Rows, k);
        using var yb = backend.Allocate(rows * w.Rows);
        backend.QuantizeActivations(xb, rows, k, bits, qa);
        backend.LinearInt(qa, m, yb, rows);
        return backend.DownloadAll(yb);
    }

    public static float[] Random(int length, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[length];
        for (int i = 0; i < length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, Func<int, double> tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs((double)expected[i] - actual[i]);
            Assert.True(err <= tolerance(i), $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}, |err| {err:E3} > {tolerance(i):E3}");
        }
    }

    /// <summary>A W4A16 result against <see cref="Ops.LinearReference.W4A16"/>, each element within <see cref="DotTolerance"/> of its row's Σ|x·w|.</summary>
    public static void AssertMatchesW4A16Reference(Formats.Int4Matrix w, float[] x, int rows, ReadOnlySpan<float> actual, string what)
    {
        int n = w.Rows, k = w.Columns;
        var expected = new float[rows * n];
        Ops.LinearReference.W4A16(x, rows, w, expected);
        var wd = w.Dequantize();
        AssertClose(expected, actual, i => DotTolerance(k, AbsDot(x, i / n, wd, i % n, k)), what);
    }

    public static void AssertBitwise(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
    }

    /// <summary>A new buffer holding <paramref name="data"/>.</summary>
    public static DeviceBuffer UploadNew(this IBackend backend, float[] data)
    {
        var b = backend.Allocate(data.Length);
        backend.Upload(data, b);
        return b;
    }

    /// <summary>The whole buffer as floats.</summary>
    public static float[] DownloadAll(this IBackend backend, DeviceBuffer b)
    {
        var a = new float[b.Length];
        backend.Download(b, a);
        return a;
    }
}
