using QSpec.Quantization;

namespace QSpec.Core.Tests.Quantization;

public class GptqQuantizerTests
{
    /// <summary>Relative slack when comparing layer-output errors of mathematically equal computations.</summary>
    private const double EqualErrorTolerance = 0.01;
    /// <summary>GPTQ must beat RTN by at least this factor on strongly correlated inputs.</summary>
    private const double RequiredGainOverRtn = 0.85;

    /// <summary>Correlated calibration inputs X[M, K]: Gaussian mixed by a random K×K matrix plus a few loud channels.</summary>
    private static float[] CorrelatedInputs(int m, int k, int seed)
    {
        var rng = new Random(seed);
        var z = SyntheticModel.Gaussian(rng, m * k);
        var mix = SyntheticModel.Gaussian(rng, k * k, 1f / MathF.Sqrt(k));
        var x = new float[m * k];
        for (int r = 0; r < m; r++)
        {
            var y = SyntheticModel.MatVec(mix, k, k, z.AsSpan(r * k, k));
            for (int i = 0; i < k; i++) x[r * k + i] = (float)(y[i] + 0.5 * z[r * k + i]) * (i % 13 == 0 ? 4f : 1f);
        }
        return x;
    }

    private static double[] HessianOf(float[] x, int m, int k)
    {
        var acc = new HessianAccumulator(k);
        acc.Add(x, m, k);
        return acc.Hessian();
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(64, false)]
    [InlineData(32, true)]
    public void IdentityHessianReducesToRtn(int group, bool clip)
    {
        int n = 7, k = 172;
        var w = SyntheticModel.Gaussian(new Random(3), n * k);
        var h = new double[k * k];
        for (int i = 0; i < k; i++) h[i * k + i] = 1;
        var options = new QuantizerOptions { GroupSize = group, ClipSearch = clip };
        var g = GptqQuantizer.Quantize(w, n, k, h, options);
        var r = RtnQuantizer.Quantize(w, n, k, group, options.ClipRatios());
        Assert.Equal(r.Scales, g.Scales);
        Assert.Equal(r.Data, g.Data);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(0, true)]
    [InlineData(32, false)]
    [InlineData(64, true)]
    [InlineData(128, true)]
    public void BeatsRtnOnCorrelatedInputs(int group, bool actOrder)
    {
        int n = 24, k = 172, m = 600;
        var w = SyntheticModel.Gaussian(new Random(5), n * k);
        var x = CorrelatedInputs(m, k, 11);
        var options = new QuantizerOptions { GroupSize = group, ActOrder = actOrder, ClipSearch = false };
        var gptq = GptqQuantizer.Quantize(w, n, k, HessianOf(x, m, k), options).Dequantize();
        var rtn = RtnQuantizer.Quantize(w, n, k, group, [1f]).Dequantize();
        double eg = SyntheticModel.OutputError(w, gptq, n, k, x, m), er = SyntheticModel.OutputError(w, rtn, n, k, x, m);
        Assert.True(eg < RequiredGainOverRtn * er, $"GPTQ error {eg} vs RTN {er}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(1025)]
    public void LazyBatchSizeDoesNotChangeTheResult(int blockSize)
    {
        int n = 9, k = 172, m = 300;
        var w = SyntheticModel.Gaussian(new Random(8), n * k);
        var x = CorrelatedInputs(m, k, 12);
        var h = HessianOf(x, m, k);
        var reference = GptqQuantizer.Quantize(w, n, k, h, new QuantizerOptions { GroupSize = 64 });
        var other = GptqQuantizer.Quantize(w, n, k, h, new QuantizerOptions { GroupSize = 64, BlockSize = blockSize });
        double e1 = SyntheticModel.OutputError(w, reference.Dequantize(), n, k, x, m);
        double e2 = SyntheticModel.OutputError(w, other.Dequantize(), n, k, x, m);
        Assert.True(Math.Abs(e1 - e2) <= EqualErrorTolerance * e1, $"block 128: {e1}, block {blockSize}: {e2}");
        int differing = 0;
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++) if (reference.GetValue(r, c) != other.GetValue(r, c)) differing++;
        Assert.True(differing <= n * k / 100, $"{differing} of {n * k} values differ");
    }

    [Fact]
    public void DeadColumnsAreZeroAndFinite()
    {
        int n = 5, k = 64, m = 200;
        var w = SyntheticModel.Gaussian(new Random(9), n * k);
        var x = CorrelatedInputs(m, k, 13);
        for (int r = 0; r < m; r++) { x[r * k + 3] = 0; x[r * k + 40] = 0; }
        var q = GptqQuantizer.Quantize(w, n, k, HessianOf(x, m, k), new QuantizerOptions { GroupSize = 32 });
        Assert.All(q.Scales, s => Assert.True(float.IsFinite(s)));
        for (int r = 0; r < n; r++) { Assert.Equal(0, q.GetValue(r, 3)); Assert.Equal(0, q.GetValue(r, 40)); }
        var allDead = GptqQuantizer.Quantize(w, n, k, new double[k * k], new QuantizerOptions());
        Assert.All(allDead.Dequantize(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void IsDeterministic()
    {
        int n = 6, k = 100, m = 150;
        var w = SyntheticModel.Gaussian(new Random(10), n * k);
        var h = HessianOf(CorrelatedInputs(m, k, 14), m, k);
        var options = new QuantizerOptions { GroupSize = 32, ClipSearch = true };
        var a = GptqQuantizer.Quantize(w, n, k, h, options);
        var b = GptqQuantizer.Quantize(w, n, k, h, options);
        Assert.Equal(a.Data, b.Data);
        Assert.Equal(a.Scales, b.Scales);
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        var w = new float[2 * 64];
        var ex = Assert.Throws<ArgumentException>(() => GptqQuantizer.Quantize(w, 2, 64, new double[10], new QuantizerOptions()));
        Assert.Contains("10", ex.Message);
        var h = new double[64 * 64];
        h[5] = double.NaN;
        Assert.Throws<ArgumentException>(() => GptqQuantizer.Quantize(w, 2, 64, h, new QuantizerOptions()));
        Assert.ThrowsAny<ArgumentException>(() => GptqQuantizer.Quantize(w, 2, 64, new double[64 * 64], new QuantizerOptions { Damp = 0 }));
    }
}
