using System.Globalization;
using System.Text;
using QSpec.Generation;
using QSpec.Inference;
using QSpec.Model;
using QSpec.Tokenization;

using QSpec.Quantization;

namespace QSpec.Core.Tests.Quantization;

/// <summary>One row of the quantization quality table.</summary>
/// <param name="Label">E.g. "gptq, G=64, rotated".</param>
/// <param name="Options">The quantizer options, or null for the float32 baseline.</param>
/// <param name="Result">Teacher-forced NLL over the evaluation paragraphs.</param>
/// <param name="Seconds">Wall time to quantize, calibration forwards included.</param>
internal sealed record QuantizationEvaluationRow(string Label, QuantizerOptions? Options, PerplexityResult Result, double Seconds);

/// <summary>
/// Measures W4A16 perplexity of RTN, RTN+clip, GPTQ and GPTQ+clip, with and without rotation, per channel and with groups, against
/// float32 (the table in docs/quantization.md). W4A16 is evaluated exactly as the Fp32 forward over the dequantized INT4
/// weights (W4A16 computes the same products up to float summation order).
/// </summary>
internal static class QuantizationEvaluation
{
    /// <summary>Paragraph index where calibration starts (the evaluation uses the first paragraphs).</summary>
    public const int CalibrationStart = 2000;

    /// <summary>Tokenizes paragraphs [start, start + count) as BOS + text.</summary>
    public static IReadOnlyList<IReadOnlyList<int>> Sequences(IReadOnlyList<string> paragraphs, LlamaTextTokenizer tokenizer, int start, int count)
    {
        if (start + count > paragraphs.Count)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"Paragraphs {start}..{start + count - 1} requested; the file has {paragraphs.Count}.");
        return paragraphs.Skip(start).Take(count).Select(p => tokenizer.Encode(p, addBos: true)).ToArray();
    }

    /// <summary>NLL of <paramref name="weights"/> on <paramref name="sequences"/>; INT4 layers are dequantized first.</summary>
    public static PerplexityResult Evaluate(LlamaWeights weights, IReadOnlyList<IReadOnlyList<int>> sequences)
    {
        var dense = weights.WithDequantizedDense();
        using var model = LlamaModel.Create(dense);
        using var session = model.CreateSession();
        return Perplexity.Evaluate(session, sequences, ExecutionMode.Fp32);
    }

    /// <summary>
    /// Runs the whole grid: float32, then for rotation off/on, RTN / RTN+clip / GPTQ / GPTQ+clip at each group size
    /// (GPTQ with the default sequential calibration). <paramref name="onRow"/> sees the rows so far after each one.
    /// </summary>
    public static List<QuantizationEvaluationRow> Run(LlamaWeights weights, IReadOnlyList<IReadOnlyList<int>> evaluation,
        IReadOnlyList<IReadOnlyList<int>> calibration, int[] groupSizes, Action<IReadOnlyList<QuantizationEvaluationRow>>? onRow = null)
    {
        var rows = new List<QuantizationEvaluationRow> { new("fp32", null, Evaluate(weights, evaluation), 0) };
        onRow?.Invoke(rows);
        foreach (bool rotate in new[] { false, true })
            foreach (var (method, clip) in new[] { (QuantizationMethod.Rtn, false), (QuantizationMethod.Rtn, true), (QuantizationMethod.Gptq, false), (QuantizationMethod.Gptq, true) })
                foreach (int g in groupSizes)
                {
                    var options = new QuantizerOptions { Method = method, ClipSearch = clip, GroupSize = g, Rotate = rotate };
                    var t = System.Diagnostics.Stopwatch.StartNew();
                    var q = ModelQuantizer.Quantize(weights, options, (w, layers) => HessianCollector.Collect(w, calibration, null, layers), null);
                    double seconds = t.Elapsed.TotalSeconds;
                    var label = $"{options.MethodName}, {(g == 0 ? "per channel" : $"G={g}")}, {(rotate ? "rotated" : "not rotated")}";
                    rows.Add(new(label, options, Evaluate(q, evaluation), seconds));
                    onRow?.Invoke(rows);
                }
        return rows;
    }

    /// <summary>The rows as a Markdown table (perplexity, ratio to float32, NLL, quantization time).</summary>
    public static string ToMarkdown(IReadOnlyList<QuantizationEvaluationRow> rows)
    {
        var inv = CultureInfo.InvariantCulture;
        double baseline = rows[0].Result.Perplexity;
        var sb = new StringBuilder();
        sb.AppendLine("| weights | method | groups | rotation | perplexity | × fp32 | NLL (nats/token) | quantize time (s) |");
        sb.AppendLine("|---|---|---|---|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            var o = r.Options;
            string groups = o is null ? "–" : o.GroupSize == 0 ? "per channel" : $"G = {o.GroupSize}";
            sb.AppendLine(string.Create(inv,
                $"| {(o is null ? "fp32" : "W4A16")} | {o?.MethodName ?? "–"} | {groups} | {(o is null ? "–" : o.Rotate ? "yes" : "no")} | {r.Result.Perplexity:F4} | {r.Result.Perplexity / baseline:F4} | {r.Result.Nll:F4} | {r.Seconds:F1} |"));
        }
        return sb.ToString();
    }
}
