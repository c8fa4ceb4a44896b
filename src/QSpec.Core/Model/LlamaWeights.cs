namespace QSpec.Model;

/// <summary>The weights of one transformer block. Matrices are [out][in].</summary>
/// <param name="AttentionNorm">RMSNorm scale before attention [D].</param>
/// <param name="Wq">Query projection [D, D].</param>
/// <param name="Wk">Key projection [KvDim, D].</param>
/// <param name="Wv">Value projection [KvDim, D].</param>
/// <param name="Wo">Output projection [D, D].</param>
/// <param name="FfnNorm">RMSNorm scale before the feed-forward [D].</param>
/// <param name="W1">Gate projection [H, D].</param>
/// <param name="W2">Down projection [D, H].</param>
/// <param name="W3">Up projection [H, D].</param>
public sealed record LayerWeights(
    float[] AttentionNorm, LinearWeight Wq, LinearWeight Wk, LinearWeight Wv, LinearWeight Wo,
    float[] FfnNorm, LinearWeight W1, LinearWeight W2, LinearWeight W3);

/// <summary>How a model's linear layers were quantized and rotated; null fields mean "not applied".</summary>
/// <param name="Method">"rtn", "rtn-clip" or "gptq".</param>
/// <param name="GroupSize">0 for per output channel, else 32, 64 or 128.</param>
/// <param name="Rotation">"none" or a description such as "hadamard(seed=0)".</param>
/// <param name="FfnHadamardBlock">Block size of the online Hadamard applied to the down-projection input at run time (0 = none).</param>
public sealed record QuantizationInfo(string Method, int GroupSize, string Rotation, int FfnHadamardBlock);

/// <summary>
/// A Llama model's weights on the host: immutable after construction and shareable between sessions.
/// Float32 as loaded from a checkpoint, INT4 after quantization (see <see cref="Quantization"/>).
/// </summary>
public sealed class LlamaWeights
{
    /// <summary>Creates the weights after checking every shape against <paramref name="config"/>.</summary>
    public LlamaWeights(LlamaConfig config, float[] tokenEmbedding, IReadOnlyList<LayerWeights> layers,
                        float[] finalNorm, LinearWeight classifier, QuantizationInfo? quantization = null)
    {
        config.Validate();
        Expect(tokenEmbedding.LongLength, (long)config.VocabSize * config.Dim, nameof(tokenEmbedding));
        Expect(finalNorm.Length, config.Dim, nameof(finalNorm));
        if (layers.Count != config.Layers) throw new ArgumentException($"Expected {config.Layers} layers, got {layers.Count}.", nameof(layers));
        foreach (var l in layers)
        {
            Expect(l.AttentionNorm.Length, config.Dim, nameof(l.AttentionNorm));
            Expect(l.FfnNorm.Length, config.Dim, nameof(l.FfnNorm));
            Shape(l.Wq, config.Dim, config.Dim); Shape(l.Wk, config.KvDim, config.Dim); Shape(l.Wv, config.KvDim, config.Dim);
            Shape(l.Wo, config.Dim, config.Dim); Shape(l.W1, config.HiddenDim, config.Dim);
            Shape(l.W2, config.Dim, config.HiddenDim); Shape(l.W3, config.HiddenDim, config.Dim);
        }
        Shape(classifier, config.VocabSize, config.Dim);
        Config = config; TokenEmbedding = tokenEmbedding; Layers = layers; FinalNorm = finalNorm;
        Classifier = classifier; Quantization = quantization;
        HasInt4 = LinearLayers().All(l => l.Weight.Int4 is not null);
        HasDense = LinearLayers().All(l => l.Weight.Dense is not null);

        static void Expect(long actual, long expected, string name)
        {
            if (actual != expected) throw new ArgumentException($"{name} has {actual} elements, expected {expected}.", name);
        }
        static void Shape(LinearWeight w, int rows, int cols)
        {
            if (w.Rows != rows || w.Columns != cols)
                throw new ArgumentException($"Linear layer is {w.Rows}x{w.Columns}, expected {rows}x{cols}.", nameof(layers));
        }
    }

    /// <summary>The model shape.</summary>
    public LlamaConfig Config { get; }
    /// <summary>Token embedding [V, D].</summary>
    public float[] TokenEmbedding { get; }
    /// <summary>The transformer blocks.</summary>
    public IReadOnlyList<LayerWeights> Layers { get; }
    /// <summary>Final RMSNorm scale [D].</summary>
    public float[] FinalNorm { get; }
    /// <summary>Classifier [V, D]; shares its dense array with the embedding when the checkpoint does.</summary>
    public LinearWeight Classifier { get; }
    /// <summary>Quantization and rotation applied, or null for a float32 model.</summary>
    public QuantizationInfo? Quantization { get; }

    /// <summary>True when every linear layer has INT4 weights (W4A16, W4A4 and W4A8 modes are available).</summary>
    public bool HasInt4 { get; }

    /// <summary>True when every linear layer has float32 weights (Fp32 mode is available).</summary>
    public bool HasDense { get; }

    /// <summary>
    /// A copy whose linear layers also carry float32 weights dequantized from their INT4 ones (layers that already
    /// have float32 weights keep them), so an INT4-only model can run the Fp32 reference mode. The INT4 matrices and
    /// every other array are shared, not copied.
    /// </summary>
    public LlamaWeights WithDequantizedDense()
    {
        if (HasDense) return this;
        static LinearWeight D(LinearWeight l) => l.Dense is not null ? l : new LinearWeight(l.Rows, l.Columns, l.Int4!.Dequantize(), l.Int4);
        var layers = Layers.Select(l => l with { Wq = D(l.Wq), Wk = D(l.Wk), Wv = D(l.Wv), Wo = D(l.Wo), W1 = D(l.W1), W2 = D(l.W2), W3 = D(l.W3) }).ToArray();
        return new LlamaWeights(Config, TokenEmbedding, layers, FinalNorm, D(Classifier), Quantization);
    }

    /// <summary>The same weights (shared, not copied) with another context length (KV cache positions).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="seqLen"/> is not in 1..<see cref="LlamaConfig.MaxDimension"/>.</exception>
    public LlamaWeights WithContextLength(int seqLen)
        => seqLen == Config.SeqLen ? this : new LlamaWeights(Config with { SeqLen = seqLen }, TokenEmbedding, Layers, FinalNorm, Classifier, Quantization);

    /// <summary>Enumerates every linear layer with a stable name such as "layers.3.w2" or "classifier".</summary>
    public IEnumerable<(string Name, LinearWeight Weight)> LinearLayers()
    {
        for (int i = 0; i < Layers.Count; i++)
        {
            var l = Layers[i];
            yield return ($"layers.{i}.wq", l.Wq); yield return ($"layers.{i}.wk", l.Wk); yield return ($"layers.{i}.wv", l.Wv);
            yield return ($"layers.{i}.wo", l.Wo); yield return ($"layers.{i}.w1", l.W1); yield return ($"layers.{i}.w2", l.W2);
            yield return ($"layers.{i}.w3", l.W3);
        }
        yield return ("classifier", Classifier);
    }
}
