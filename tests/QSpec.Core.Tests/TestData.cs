using System.Text.Json;
using QSpec.Inference;
using QSpec.Model;

namespace QSpec.Core.Tests;

/// <summary>Shared fixtures: the stories260K model and its expected greedy output, loaded once.</summary>
public static class TestData
{
    private static readonly Lazy<LlamaWeights> s_weights = new(() => Llama2cReader.Read(SharedData.DefaultModel));
    private static readonly Lazy<ExpectedGreedy> s_expected = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedData.PathOf("models", "stories260K", "expected_greedy.json")));
        var r = doc.RootElement;
        return new ExpectedGreedy(
            r.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            r.GetProperty("first_step_top5_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            r.GetProperty("first_step_top5_logits").EnumerateArray().Select(e => e.GetSingle()).ToArray());
    });

    /// <summary>stories260K fp32 weights (shared, immutable).</summary>
    public static LlamaWeights Stories260K => s_weights.Value;

    private static readonly Lazy<LlamaWeights> s_rtn = new(() => QuantizeRtn(Stories260K, groupSize: 0));

    /// <summary>
    /// stories260K with every linear layer RTN-quantized per output channel (reference quantizer), float32 weights kept,
    /// so every mode runs on it. Enough for exactness tests; quality numbers use GPTQ.
    /// </summary>
    public static LlamaWeights Stories260KInt4 => s_rtn.Value;

    /// <summary>RTN-quantizes every linear layer of <paramref name="w"/> (keeps the float32 weights).</summary>
    public static LlamaWeights QuantizeRtn(LlamaWeights w, int groupSize)
    {
        LinearWeight Q(LinearWeight l) => l.WithInt4(Kernels.Formats.Int4Matrix.Quantize(l.Dense!, l.Rows, l.Columns, groupSize), keepDense: true);
        var layers = w.Layers.Select(l => l with { Wq = Q(l.Wq), Wk = Q(l.Wk), Wv = Q(l.Wv), Wo = Q(l.Wo), W1 = Q(l.W1), W2 = Q(l.W2), W3 = Q(l.W3) }).ToArray();
        return new LlamaWeights(w.Config, w.TokenEmbedding, layers, w.FinalNorm, Q(w.Classifier), new QuantizationInfo("rtn", groupSize, "none", 0));
    }

    /// <summary>The reference greedy run.</summary>
    public static ExpectedGreedy Expected => s_expected.Value;

    /// <summary>The llama2.c BOS id.</summary>
    public const int Bos = 1;

    /// <summary>A fresh model on the CPU backend.</summary>
    public static LlamaModel CreateModel() => LlamaModel.Create(Stories260K);
}

public sealed record ExpectedGreedy(int[] Ids, int[] Top5Ids, float[] Top5Logits);
