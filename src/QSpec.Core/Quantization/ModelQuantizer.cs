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
        return Quantize(weights, options, calibration is null ? null : (w, layers) => HessianCollector.Collect(w, calibration, progress, layers), progress);
    }

    /// <summary>
    /// The pipeline, with the calibration forward supplied by the caller: <paramref name="collectHessians"/> runs the
    /// calibration set through a float32 model and returns the Hessians of the named linear layers (all when null;
    /// names as in <see cref="LlamaWeights.LinearLayers"/>). Called once with the (rotated) float32 model, or, in
    /// sequential GPTQ, once per stage with the layers quantized so far replaced by their dequantized weights.
    /// </summary>
    internal static LlamaWeights Quantize(LlamaWeights weights, QuantizerOptions options,
        Func<LlamaWeights, IReadOnlySet<string>?, IReadOnlyDictionary<string, double[]>>? collectHessians, Action<string>? progress)
    {
        ArgumentNullException.ThrowIfNull(weights);
        options.Validate();
        if (!weights.HasDense)
            throw new ArgumentException("Quantization needs float32 weights for every linear layer.", nameof(weights));
        if (weights.Quantization is { Method: not "none" } q)
            throw new ArgumentException($"The model is already quantized (method {q.Method}).", nameof(weights));
        bool gptq = options.Method == QuantizationMethod.Gptq;
        if (gptq && collectHessians is null) throw new ArgumentException("GPTQ needs calibration data.", nameof(collectHessians));

        var source = weights;
        if (options.Rotate)
        {
            if (source.Quantization is not null)
                throw new ArgumentException($"The model is already rotated ({source.Quantization.Rotation}).", nameof(weights));
            progress?.Invoke("rotating");
            source = ModelRotation.Rotate(source, options.Seed);
        }

        var quantized = new Dictionary<string, Int4Matrix>();
        if (gptq && options.Sequential)
        {
            // Stage s < L: block s's seven layers; stage L: the classifier.
            var stages = source.LinearLayers().GroupBy(l => l.Name.StartsWith("layers.", StringComparison.Ordinal) ? l.Name.Split('.')[1] : "classifier");
            foreach (var stage in stages)
            {
                progress?.Invoke($"collecting calibration Hessians for stage {stage.Key}");
                var names = stage.Select(l => l.Name).ToHashSet();
                var hessians = collectHessians!(Assemble(source, quantized, keepDequantized: true, null), names);
                foreach (var (name, w) in stage) quantized[name] = QuantizeLayer(name, w, options, hessians, progress);
            }
        }
        else
        {
            IReadOnlyDictionary<string, double[]>? hessians = null;
            if (gptq)
            {
                progress?.Invoke("collecting calibration Hessians");
                hessians = collectHessians!(source, null);
            }
            foreach (var (name, w) in source.LinearLayers()) quantized[name] = QuantizeLayer(name, w, options, hessians, progress);
        }

        var info = new QuantizationInfo(options.MethodName, options.GroupSize,
            source.Quantization?.Rotation ?? "none", source.Quantization?.FfnHadamardBlock ?? 0);
        return Assemble(source, quantized, keepDequantized: false, info);
    }

    private static Int4Matrix QuantizeLayer(string name, LinearWeight w, QuantizerOptions options,
                                            IReadOnlyDictionary<string, double[]>? hessians, Action<string>? progress)
    {
        progress?.Invoke($"quantizing {name} ({w.Rows}x{w.Columns})");
        if (hessians is null) return RtnQuantizer.Quantize(w.Dense, w.Rows, w.Columns, options.GroupSize, options.ClipRatios());
        if (!hessians.TryGetValue(name, out var h))
            throw new ArgumentException($"No calibration Hessian was collected for layer '{name}'.", nameof(hessians));
        return GptqQuantizer.Quantize(w.Dense, w.Rows, w.Columns, h, options);
    }

    /// <summary>
    /// <paramref name="source"/> with the layers in <paramref name="quantized"/> replaced: INT4 only (final result, untied,
    /// <paramref name="info"/> set), or INT4 plus dequantized float32 (intermediate models for calibration forwards).
    /// </summary>
    private static LlamaWeights Assemble(LlamaWeights source, Dictionary<string, Int4Matrix> quantized, bool keepDequantized, QuantizationInfo? info)
    {
        LinearWeight L(string name, LinearWeight original) => quantized.TryGetValue(name, out var m)
            ? new LinearWeight(m.Rows, m.Columns, keepDequantized ? m.Dequantize() : null, m)
            : original;
        var layers = source.Layers.Select((l, i) => l with
        {
            Wq = L($"layers.{i}.wq", l.Wq), Wk = L($"layers.{i}.wk", l.Wk), Wv = L($"layers.{i}.wv", l.Wv), Wo = L($"layers.{i}.wo", l.Wo),
            W1 = L($"layers.{i}.w1", l.W1), W2 = L($"layers.{i}.w2", l.W2), W3 = L($"layers.{i}.w3", l.W3),
        }).ToList();
        var classifier = L("classifier", source.Classifier);
        // Once the classifier is its own INT4 matrix the model is no longer tied to the float embedding.
        var config = ReferenceEquals(classifier, source.Classifier) ? source.Config : source.Config with { SharedClassifier = false };
        return new LlamaWeights(config, source.TokenEmbedding, layers, source.FinalNorm, classifier, info ?? source.Quantization);
    }
}
