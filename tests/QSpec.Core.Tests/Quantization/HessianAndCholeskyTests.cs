using QSpec.Quantization;

namespace QSpec.Core.Tests.Quantization;

public class HessianAndCholeskyTests
{
    /// <summary>Absolute tolerance for double-precision identities on well-conditioned 17×17 matrices.</summary>
    private const double DoubleTolerance = 1e-9;

    [Fact]
    public void HessianIsTwiceTheMeanOuterProduct()
    {
        int k = 17, m = 23;
        var x = SyntheticModel.Gaussian(new Random(1), m * k);
        var acc = new HessianAccumulator(k);
        acc.Add(x.AsSpan(0, 10 * k), 10, k);
        acc.Add(x.AsSpan(10 * k), m - 10, k);
        var h = acc.Hessian();
        Assert.Equal(m, acc.Count);
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
            {
                double s = 0;
                for (int r = 0; r < m; r++) s += (double)x[r * k + i] * x[r * k + j];
                Assert.Equal(2 * s / m, h[i * k + j], DoubleTolerance);
            }
        Assert.Throws<ArgumentException>(() => acc.Add(new float[16], 1, 16));
    }

    [Fact]
    public void CholeskyInverseTimesMatrixIsIdentity()
    {
        int k = 17, m = 40;
        var acc = new HessianAccumulator(k);
        acc.Add(SyntheticModel.Gaussian(new Random(2), m * k), m, k);
        var a = acc.Hessian();
        var l = (double[])a.Clone();
        Assert.True(Cholesky.TryFactor(l, k));
        var inv = new double[k * k];
        Cholesky.InvertFromFactor(l, k, inv);
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
            {
                double s = 0;
                for (int t = 0; t < k; t++) s += a[i * k + t] * inv[t * k + j];
                Assert.Equal(i == j ? 1 : 0, s, 1e-8);
            }
        var singular = new double[k * k];
        Assert.False(Cholesky.TryFactor(singular, k));
    }
}
