using QSpec.Kernels.Formats;
using QSpec.Model;

namespace QSpec.Quantization;

/// <summary>Quantizes every linear layer of a float32 Llama model to INT4 (optionally rotating it first).</summary>
public static class ModelQuantizer
{
    /// <summary>
    /// Quantizes <paramref name="weights"/> (float32, not yet quantized) as <paramref name="options"/> say: optional
    /// rotation (<see cref="ModelRotation"/>), then RTN or GPTQ for every linear layer. The embedding and norms stay
    /// float32; the classifier becomes its own INT4 matrix (the result is never tied).
    /// </summary>
    /// <param name="calibration">GPTQ only: token sequences (BOS first), each run through the float32 (rotated) model
    /// to collect every layer's Hessian. Ignored by RTN.</param>
    /// <param name="progress">Receives short progress lines, or null.</param>
    /// <returns>Weights with INT4 linear layers only and <see cref="LlamaWeights.Quantization"/> set.</returns>
    /// <exception cref="ArgumentException">Invalid options, a non-float32 model, or GPTQ without calibration data.</exception>
    public static LlamaWeights Quantize(LlamaWeights weights, QuantizerOptions options,
        IReadOnlyList<IReadOnlyList<int>>? calibration, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Method == QuantizationMethod.Gptq && (calibration is null || calibration.Count == 0))
            throw new ArgumentException($"GPTQ needs calibration sequences (got {calibration?.Count.ToString() ?? "null"}).", nameof(calibration));
        return Quantize(weights, options, calibration is null ? null : w => HessianCollector.Collect(w, calibration, progress), progress);
    }

    /// <summary>
    /// The core pipeline, with the calibration forward supplied by the caller: <paramref name="collectHessians"/> runs
    /// the calibration set through a float32 model and returns each linear layer's Hessian by name (as in
    /// <see cref="LlamaWeights.LinearLayers"/>). Called once with the (rotated) float32 model.
    /// </summary>
    internal static LlamaWeights Quantize(LlamaWeights weights, QuantizerOptions options,
        Func<LlamaWeights, IReadOnlyDictionary<string, double[]>>? collectHessians, Action<string>? progress)
    {
        ArgumentNullException.ThrowIfNull(weights);
        options.Validate();
        if (!weights.HasDense) throw new ArgumentException("Quantization needs float32 weights for every linear layer.", nameof(weights));
        if (weights.Quantization is { Method: not "none" } q)
            throw new ArgumentException($"The model is already quantized (method {q.Method}).", nameof(weights));

        var source = weights;
        if (options.Rotate)
        {
            if (source.Quantization is not null)
                throw new ArgumentException($"The model is already rotated ({source.Quantization.Rotation}).", nameof(weights));
            progress?.Invoke("rotating");
            source = ModelRotation.Rotate(source, options.Seed);
        }

        IReadOnlyDictionary<string, double[]>? hessians = null;
        if (options.Method == QuantizationMethod.Gptq)
        {
            if (collectHessians is null) throw new ArgumentException("GPTQ needs calibration data.", nameof(collectHessians));
            progress?.Invoke("collecting calibration Hessians");
            hessians = collectHessians(source);
        }

        var clip = options.ClipRatios();
        var quantized = new Dictionary<string, LinearWeight>();
        foreach (var (name, w) in source.LinearLayers())
        {
            progress?.Invoke($"quantizing {name} ({w.Rows}x{w.Columns})");
            Int4Matrix m;
            if (hessians is null)
                m = RtnQuantizer.Quantize(w.Dense, w.Rows, w.Columns, options.GroupSize, clip);
            else
            {
                if (!hessians.TryGetValue(name, out var h))
                    throw new ArgumentException($"No calibration Hessian was collected for layer '{name}'.", nameof(collectHessians));
                m = GptqQuantizer.Quantize(w.Dense, w.Rows, w.Columns, h, options);
            }
            quantized[name] = new LinearWeight(w.Rows, w.Columns, null, m);
        }

        var info = new QuantizationInfo(options.MethodName, options.GroupSize,
            source.Quantization?.Rotation ?? "none", source.Quantization?.FfnHadamardBlock ?? 0);
        var layers = source.Layers.Select((l, i) => l with
        {
            Wq = quantized[$"layers.{i}.wq"], Wk = quantized[$"layers.{i}.wk"], Wv = quantized[$"layers.{i}.wv"],
            Wo = quantized[$"layers.{i}.wo"], W1 = quantized[$"layers.{i}.w1"], W2 = quantized[$"layers.{i}.w2"],
            W3 = quantized[$"layers.{i}.w3"],
        }).ToList();
        // The classifier is now its own INT4 matrix, so the model is no longer tied to the float embedding.
        return new LlamaWeights(source.Config with { SharedClassifier = false }, source.TokenEmbedding, layers,
            source.FinalNorm, quantized["classifier"], info);
    }

    /// <summary>
    /// A copy whose linear layers carry float32 weights equal to their dequantized INT4 weights (INT4 kept), so the
    /// Fp32 execution mode computes exactly what W4A16 computes up to summation order.
    /// </summary>
    internal static LlamaWeights WithDequantizedDense(LlamaWeights weights)
    {
        static LinearWeight D(LinearWeight w) => w.Int4 is null ? w : new LinearWeight(w.Rows, w.Columns, w.Int4.Dequantize(), w.Int4);
        var layers = weights.Layers.Select(l => l with
        {
            Wq = D(l.Wq), Wk = D(l.Wk), Wv = D(l.Wv), Wo = D(l.Wo), W1 = D(l.W1), W2 = D(l.W2), W3 = D(l.W3),
        }).ToList();
        return new LlamaWeights(weights.Config, weights.TokenEmbedding, layers, weights.FinalNorm, D(weights.Classifier), weights.Quantization);
    }
}
