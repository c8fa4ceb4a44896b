using QSpec.Model;

namespace QSpec.Core.Tests.Quantization;

/// <summary>Small random float32 models and matrices for the quantization tests (seeded, deterministic).</summary>
internal static class SyntheticModel
{
    public static float[] Gaussian(Random rng, int count, float std = 1f)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            a[i] = (float)(std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return a;
    }

    public static LlamaWeights Create(int dim = 64, int hidden = 172, int layers = 2, int heads = 8, int kvHeads = 4, int vocab = 37, int seed = 1)
    {
        var rng = new Random(seed);
        var config = new LlamaConfig(dim, hidden, layers, heads, kvHeads, vocab, 32, SharedClassifier: true);
        LinearWeight L(int n, int k) => LinearWeight.FromDense(Gaussian(rng, n * k, 1f / MathF.Sqrt(k)), n, k);
        float[] Norm() => Gaussian(rng, dim, 0.2f).Select(v => 1f + v).ToArray();
        var list = new List<LayerWeights>();
        for (int i = 0; i < layers; i++)
            list.Add(new LayerWeights(Norm(), L(dim, dim), L(config.KvDim, dim), L(config.KvDim, dim), L(dim, dim),
                                      Norm(), L(hidden, dim), L(dim, hidden), L(hidden, dim)));
        var embedding = Gaussian(rng, vocab * dim);
        return new LlamaWeights(config, embedding, list, Norm(), LinearWeight.FromDense(embedding, vocab, dim));
    }

    /// <summary>Y[N] = W[N, K]·x in double.</summary>
    public static double[] MatVec(float[] w, int n, int k, ReadOnlySpan<float> x)
    {
        var y = new double[n];
        for (int r = 0; r < n; r++)
        {
            double s = 0;
            for (int i = 0; i < k; i++) s += (double)w[r * k + i] * x[i];
            y[r] = s;
        }
        return y;
    }

    /// <summary>Σ over rows of X[M, K] of ‖(W − Q)·x‖², the layer-output error GPTQ minimizes.</summary>
    public static double OutputError(float[] w, float[] q, int n, int k, float[] x, int m)
    {
        double e = 0;
        var d = new float[w.Length];
        for (int i = 0; i < w.Length; i++) d[i] = w[i] - q[i];
        for (int r = 0; r < m; r++)
            foreach (var v in MatVec(d, n, k, x.AsSpan(r * k, k))) e += v * v;
        return e;
    }
}
