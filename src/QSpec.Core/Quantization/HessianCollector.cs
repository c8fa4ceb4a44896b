using QSpec.Inference;
using QSpec.Model;

namespace QSpec.Quantization;

/// <summary>
/// Collects GPTQ calibration Hessians by observing every linear layer's input during float32 forwards.
/// </summary>
/// <remarks>
/// In a Llama block wk and wv read exactly the input of wq, and w3 the input of w1, so those share one accumulator
/// (the K² work per row is done once per distinct input).
/// </remarks>
public sealed class HessianCollector : ILinearInputObserver
{
    private readonly Dictionary<string, HessianAccumulator> _accumulators = [];
    private readonly IReadOnlySet<string>? _layers;

    /// <summary>Creates a collector for every linear layer, or only for <paramref name="layers"/> (names) when given.</summary>
    public HessianCollector(IReadOnlySet<string>? layers = null) => _layers = layers;

    /// <inheritdoc />
    public void Observe(string layerName, ReadOnlySpan<float> x, int rows, int columns)
    {
        var key = SharedInputOf(layerName);
        if (key != layerName) return; // same input as the layer it shares with, already added
        if (_layers is not null && !_layers.Any(l => SharedInputOf(l) == key)) return;
        if (!_accumulators.TryGetValue(key, out var acc)) _accumulators[key] = acc = new HessianAccumulator(columns);
        acc.Add(x, rows, columns);
    }

    /// <summary>Input rows seen by <paramref name="layerName"/> (0 when it was never observed).</summary>
    public long RowsSeen(string layerName) => _accumulators.TryGetValue(SharedInputOf(layerName), out var a) ? a.Count : 0;

    /// <summary>The Hessian of every observed layer, by name (layers sharing an input share the array).</summary>
    public IReadOnlyDictionary<string, double[]> Hessians(LlamaWeights weights)
    {
        var byKey = _accumulators.ToDictionary(kv => kv.Key, kv => kv.Value.Hessian());
        var result = new Dictionary<string, double[]>();
        foreach (var (name, _) in weights.LinearLayers())
            if (byKey.TryGetValue(SharedInputOf(name), out var h)) result[name] = h;
        return result;
    }

    /// <summary>
    /// Runs each sequence (BOS first, truncated to the context) through a float32 model of <paramref name="weights"/>
    /// and returns the Hessians of every linear layer, or of <paramref name="layers"/> only.
    /// </summary>
    public static IReadOnlyDictionary<string, double[]> Collect(LlamaWeights weights, IEnumerable<IReadOnlyList<int>> sequences,
                                                               Action<string>? progress = null, IReadOnlySet<string>? layers = null)
    {
        var collector = new HessianCollector(layers);
        using var model = LlamaModel.Create(weights);
        using var session = model.CreateSession();
        session.LinearInputObserver = collector;
        int count = 0, seqLen = session.ContextLength;
        foreach (var sequence in sequences)
        {
            var tokens = sequence.Take(seqLen).ToArray();
            if (tokens.Length == 0) continue;
            session.Reset();
            session.Prefill(tokens, 0, ExecutionMode.Fp32);
            if (++count % 64 == 0) progress?.Invoke($"calibration: {count} sequences");
        }
        if (count == 0) throw new ArgumentException("The calibration set has no non-empty sequence.", nameof(sequences));
        return collector.Hessians(weights);
    }

    private static string SharedInputOf(string layerName)
    {
        int dot = layerName.LastIndexOf('.');
        if (dot < 0) return layerName;
        return layerName[(dot + 1)..] switch
        {
            "wk" or "wv" => layerName[..dot] + ".wq",
            "w3" => layerName[..dot] + ".w1",
            _ => layerName,
        };
    }
}
