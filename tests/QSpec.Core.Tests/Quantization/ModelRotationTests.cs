using QSpec.Kernels.Ops;
using QSpec.Model;
using QSpec.Quantization;

namespace QSpec.Core.Tests.Quantization;

/// <summary>
/// Checks the rotation layer by layer: every linear layer of the rotated model, fed the rotated stream, computes what
/// the original computes (reads) or its rotation (writes). The end-to-end logits check is in the forward tests.
/// </summary>
public class ModelRotationTests
{
    /// <summary>Float32 rounding through a rotation and a dot product of ≤ 172 terms.</summary>
    private const double LayerTolerance = 1e-4;

    private static float[] RmsNorm(ReadOnlySpan<float> x, float[] g)
    {
        var y = new float[x.Length];
        ElementwiseReference.RmsNorm(x, g, y, 1, x.Length, 1e-5f);
        return y;
    }

    [Theory]
    [InlineData(64, 172)]   // power-of-two residual: randomized Hadamard; hidden 172 → FFN block 4
    [InlineData(48, 128)]   // non-power-of-two residual: random orthogonal from QR; FFN block 128
    public void EveryLayerIsEquivalentInTheRotatedBasis(int dim, int hidden)
    {
        var original = SyntheticModel.Create(dim, hidden, heads: 4, kvHeads: 2);
        var rotated = ModelRotation.Rotate(original, seed: 3);
        Assert.False(rotated.Config.SharedClassifier);
        Assert.NotSame(rotated.TokenEmbedding, rotated.Classifier.Dense);
        int block = rotated.Quantization!.FfnHadamardBlock;
        Assert.Equal(hidden == 172 ? 4 : 128, block);
        Assert.All(rotated.Layers, l => Assert.All(l.AttentionNorm.Concat(l.FfnNorm), v => Assert.Equal(1f, v)));

        // A residual vector h and its rotated image h' = Qᵀh, taken from an embedding row.
        int token = 5;
        var h = original.TokenEmbedding.AsSpan(token * dim, dim).ToArray();
        var hr = rotated.TokenEmbedding.AsSpan(token * dim, dim).ToArray();
        Assert.Equal(Norm(h), Norm(hr), 1e-3);

        for (int i = 0; i < original.Layers.Count; i++)
        {
            var (o, r) = (original.Layers[i], rotated.Layers[i]);
            // Readers (all five): W'·rmsnorm(h') must equal W·rmsnorm_g(h).
            foreach (var (wo, wr, g) in new[] { (o.Wq, r.Wq, o.AttentionNorm), (o.Wk, r.Wk, o.AttentionNorm), (o.Wv, r.Wv, o.AttentionNorm), (o.W1, r.W1, o.FfnNorm), (o.W3, r.W3, o.FfnNorm) })
                AssertClose(Apply(wo, RmsNorm(h, g)), Apply(wr, RmsNorm(hr, r.AttentionNorm)) /* unit norms */);
            // Writers (wo and w2): rotated(W·z) must equal W'·z, compared in the rotated basis through the embedding's Q.
            var a = SyntheticModel.Gaussian(new Random(100 + i), dim);
            AssertClose(RotateLike(original, rotated, Apply(o.Wo, a)), Apply(r.Wo, a));
            var z = SyntheticModel.Gaussian(new Random(i), hidden);
            var zr = (float[])z.Clone();
            if (block > 0) HadamardReference.Transform(zr, 1, hidden, block); // the runtime's online Hadamard
            AssertClose(RotateLike(original, rotated, Apply(o.W2, z)), Apply(r.W2, zr));
        }
        AssertClose(Apply(original.Classifier, RmsNorm(h, original.FinalNorm)), Apply(rotated.Classifier, RmsNorm(hr, rotated.FinalNorm)));
    }

    [Fact]
    public void RejectsQuantizedOrRotatedModels()
    {
        var rotated = ModelRotation.Rotate(SyntheticModel.Create(layers: 1));
        var ex = Assert.Throws<ArgumentException>(() => ModelRotation.Rotate(rotated));
        Assert.Contains("hadamard", ex.Message);
        Assert.Equal(4, ModelRotation.LargestPowerOfTwoDivisor(172));
        Assert.Equal(256, ModelRotation.LargestPowerOfTwoDivisor(11008));
        Assert.Equal(1, ModelRotation.LargestPowerOfTwoDivisor(43));
    }

    private static double Norm(float[] v) => Math.Sqrt(v.Sum(x => (double)x * x));

    private static float[] Apply(LinearWeight w, float[] x) =>
        SyntheticModel.MatVec(w.Dense!, w.Rows, w.Columns, x).Select(v => (float)v).ToArray();

    /// <summary>
    /// Qᵀ·v for a residual-stream vector v without access to Q: put v in embedding row 0 of a copy of the model and
    /// rotate it with the same seed (same Q); embedding rows are rotated exactly like the stream.
    /// </summary>
    private static float[] RotateLike(LlamaWeights original, LlamaWeights rotated, float[] v)
    {
        // Rotate a one-row "model" through the public API: a fresh rotation with the same seed applies the same Q.
        int d = original.Config.Dim;
        var single = original.TokenEmbedding.ToArray();
        v.CopyTo(single, 0);
        var probe = new LlamaWeights(original.Config, single, original.Layers, original.FinalNorm, original.Classifier);
        var r = ModelRotation.Rotate(probe, seed: 3);
        return r.TokenEmbedding.AsSpan(0, d).ToArray();
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(1, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= LayerTolerance * scale, $"[{i}] expected {expected[i]}, got {actual[i]}");
    }
}
