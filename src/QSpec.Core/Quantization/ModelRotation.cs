using QSpec.Kernels.Ops;
using QSpec.Model;

namespace QSpec.Quantization;

/// <summary>
/// QuaRot-style rotation (Ashkboos et al. 2024) of a float32 Llama model: an exactly equivalent model whose linear
/// layers have fewer weight and activation outliers, so they quantize better.
/// </summary>
/// <remarks>
/// <para><b>1. Norm folding.</b> Each RMSNorm scale g moves into the layers that read the normalized vector
/// (W ← W·diag(g)): attention_norm into wq/wk/wv, ffn_norm into w1/w3, the final norm into the classifier; the norms
/// become 1. A tied classifier is untied first: it becomes its own matrix E·diag(g_final).</para>
/// <para><b>2. Residual rotation.</b> With Q orthogonal (<see cref="OrthogonalTransform"/>), the residual stream h is
/// replaced by Qᵀh. RMSNorm with unit scale commutes with Q (it preserves norms), so: embedding rows E ← E·Q; layers
/// reading the stream (wq, wk, wv, w1, w3, classifier) W ← W·Q; layers writing it (wo, w2) W ← Qᵀ·W.</para>
/// <para><b>3. Online Hadamard before w2.</b> With b the largest power of two dividing the hidden width (4 for 172 =
/// 4·43; the runtime's Hadamard op needs a power-of-two block), W2 ← W2·H_b (H_b block-diagonal, symmetric and its own
/// inverse) and <see cref="QuantizationInfo.FfnHadamardBlock"/> = b, so the runtime applies H_b to the SwiGLU output
/// before w2 and W2·H_b·H_b·z = W2·z. When b = 1 (odd width) this step is skipped and the block is 0.</para>
/// </remarks>
public static class ModelRotation
{
    /// <summary>Returns the rotated model; <paramref name="weights"/> is not modified.</summary>
    /// <exception cref="ArgumentException">The model lacks float32 weights or was already quantized or rotated.</exception>
    public static LlamaWeights Rotate(LlamaWeights weights, int seed = 0)
    {
        if (!weights.HasDense)
            throw new ArgumentException("Rotation needs float32 weights for every linear layer.", nameof(weights));
        if (weights.Quantization is { } q)
            throw new ArgumentException($"The model is already quantized or rotated (method {q.Method}, rotation {q.Rotation}).", nameof(weights));

        var c = weights.Config;
        int d = c.Dim, h = c.HiddenDim;
        var rot = new OrthogonalTransform(d, seed);
        int ffnBlock = LargestPowerOfTwoDivisor(h);
        if (ffnBlock == 1) ffnBlock = 0;

        var embedding = (float[])weights.TokenEmbedding.Clone();
        rot.ApplyToRows(embedding, c.VocabSize);

        var layers = new List<LayerWeights>(c.Layers);
        foreach (var l in weights.Layers)
        {
            var w2 = (float[])l.W2.Dense!.Clone();
            if (ffnBlock > 0) HadamardReference.Transform(w2, d, h, ffnBlock);
            layers.Add(new LayerWeights(
                Ones(d),
                ReadsStream(l.Wq, l.AttentionNorm, rot), ReadsStream(l.Wk, l.AttentionNorm, rot), ReadsStream(l.Wv, l.AttentionNorm, rot),
                WritesStream(l.Wo.Dense!, d, d, rot),
                Ones(d),
                ReadsStream(l.W1, l.FfnNorm, rot), WritesStream(w2, d, h, rot), ReadsStream(l.W3, l.FfnNorm, rot)));
        }
        // The classifier is always its own matrix here (untied), built from the original weights.
        var classifier = ReadsStream(weights.Classifier, weights.FinalNorm, rot);
        var info = new QuantizationInfo("none", 0, rot.Description, ffnBlock);
        return new LlamaWeights(c with { SharedClassifier = false }, embedding, layers, Ones(d), classifier, info);
    }

    /// <summary>The largest power of two dividing <paramref name="n"/> (n &gt; 0).</summary>
    public static int LargestPowerOfTwoDivisor(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        return n & -n;
    }

    /// <summary>W·diag(g)·Q for a layer W[N, D] that reads the normalized residual stream.</summary>
    private static LinearWeight ReadsStream(LinearWeight w, float[] norm, OrthogonalTransform rot)
    {
        var m = new float[w.Dense!.Length];
        int n = w.Rows, k = w.Columns;
        for (int r = 0; r < n; r++)
            for (int i = 0; i < k; i++) m[r * k + i] = w.Dense[r * k + i] * norm[i];
        rot.ApplyToRows(m, n);
        return LinearWeight.FromDense(m, n, k);
    }

    /// <summary>Qᵀ·W for a layer W[D, K] that writes the residual stream: (Wᵀ·Q)ᵀ.</summary>
    private static LinearWeight WritesStream(float[] w, int rows, int columns, OrthogonalTransform rot)
    {
        var t = Transpose(w, rows, columns);
        rot.ApplyToRows(t, columns);
        return LinearWeight.FromDense(Transpose(t, columns, rows), rows, columns);
    }

    private static float[] Transpose(float[] a, int rows, int columns)
    {
        var t = new float[a.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++) t[c * rows + r] = a[r * columns + c];
        return t;
    }

    private static float[] Ones(int n)
    {
        var a = new float[n];
        a.AsSpan().Fill(1f);
        return a;
    }
}
