using QSpec.Generation;
using QSpec.Inference;
using QSpec.Quantization;
using QSpec.Tokenization;

namespace QSpec.Core.Tests.Quantization;

/// <summary>A fact that runs only when the environment variable <see cref="Variable"/> is set (long reports).</summary>
public sealed class QuantizationReportFactAttribute : FactAttribute
{
    public const string Variable = "QSPEC_QUANT_REPORT";

    public QuantizationReportFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Variable)))
            Skip = $"Set {Variable} to an output Markdown path to run the full quantization report.";
    }
}

public class QuantizationQualityTests
{
    /// <summary>The brief's goal: GPTQ + rotation at W4A16 within 10 % of float32 perplexity.</summary>
    private const double MaxPerplexityRatio = 1.10;
    /// <summary>W4A16 kernel vs Fp32 over dequantized weights: float summation order only.</summary>
    private const float DequantizedLogitTolerance = 1e-3f;

    private static IReadOnlyList<string> Paragraphs() =>
        Perplexity.ReadParagraphs(SharedData.TinyStoriesValid);

    private static LlamaTextTokenizer Tokenizer() => LlamaTextTokenizer.Load(SharedData.DefaultTokenizer);

    [Fact]
    public void GptqWithRotationStaysNearFp32AndBeatsRtnOnStories260K()
    {
        var paragraphs = Paragraphs();
        var tok = Tokenizer();
        var eval = QuantizationEvaluation.Sequences(paragraphs, tok, 0, 40);
        var calibration = QuantizationEvaluation.Sequences(paragraphs, tok, QuantizationEvaluation.CalibrationStart, 64);
        var fp32 = QuantizationEvaluation.Evaluate(TestData.Stories260K, eval).Perplexity;
        var options = new QuantizerOptions { GroupSize = 64 };
        var gptq = QuantizationEvaluation.Evaluate(ModelQuantizer.Quantize(TestData.Stories260K, options, calibration), eval).Perplexity;
        var rtn = QuantizationEvaluation.Evaluate(ModelQuantizer.Quantize(TestData.Stories260K,
            options with { Method = QuantizationMethod.Rtn, Rotate = false, ClipSearch = false }, null), eval).Perplexity;
        Assert.True(gptq <= MaxPerplexityRatio * fp32, $"GPTQ+rotation ppl {gptq} vs fp32 {fp32}");
        Assert.True(gptq < rtn, $"GPTQ+rotation ppl {gptq} vs plain RTN {rtn}");
    }

    [Fact]
    public void W4A16ForwardMatchesFp32OverDequantizedWeights()
    {
        var q = ModelQuantizer.Quantize(TestData.Stories260K, new QuantizerOptions { Method = QuantizationMethod.Rtn, GroupSize = 32 }, null);
        int[] tokens = [TestData.Bos, .. TestData.Expected.Ids[..16]];
        using var m1 = LlamaModel.Create(q);
        using var m2 = LlamaModel.Create(q.WithDequantizedDense());
        using var s1 = m1.CreateSession();
        using var s2 = m2.CreateSession();
        var a = s1.Forward(tokens, 0, ExecutionMode.W4A16);
        var b = s2.Forward(tokens, 0, ExecutionMode.Fp32);
        for (int i = 0; i < a.Length; i++) Assert.True(MathF.Abs(a[i] - b[i]) <= DequantizedLogitTolerance, $"[{i}] {a[i]} vs {b[i]}");
    }

    [Fact]
    public void GptqWithoutCalibrationThrows()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelQuantizer.Quantize(TestData.Stories260K, new QuantizerOptions(), []));
        Assert.Equal("calibration", e.ParamName);
    }

    /// <summary>
    /// The table in docs/quantization.md: QSPEC_QUANT_REPORT=/path/out.md dotnet test tests/QSpec.Core.Tests -c Release
    /// --filter FullyQualifiedName~QuantizationReport. Optional QSPEC_QUANT_CALIBRATION (default 512 paragraphs).
    /// </summary>
    [QuantizationReportFact]
    public void QuantizationReport()
    {
        var output = Environment.GetEnvironmentVariable(QuantizationReportFactAttribute.Variable)!;
        int calibrationCount = int.TryParse(Environment.GetEnvironmentVariable("QSPEC_QUANT_CALIBRATION"), out int c) ? c : 512;
        var paragraphs = Paragraphs();
        var tok = Tokenizer();
        var eval = QuantizationEvaluation.Sequences(paragraphs, tok, 0, 200);
        var calibration = QuantizationEvaluation.Sequences(paragraphs, tok, QuantizationEvaluation.CalibrationStart, calibrationCount);
        string header = $"paragraphs in file: {paragraphs.Count}; evaluation: paragraphs 0..199; " +
                        $"calibration: paragraphs {CalibrationInfo(calibration, calibrationCount)}\n\n";
        // Written after every row so a long run that is interrupted still leaves its finished rows.
        var rows = QuantizationEvaluation.Run(TestData.Stories260K, eval, calibration, [0, 32, 64],
            done => File.WriteAllText(output, header + QuantizationEvaluation.ToMarkdown(done)));
        var text = File.ReadAllText(output);
        // Checks on the full table: GPTQ+clip beats RTN+clip at every group size, rotated or not, and the best
        // rotated GPTQ row meets the 1.10 x fp32 goal (the per-size numbers are reported, not asserted, in the doc).
        double fp32 = rows[0].Result.Perplexity;
        foreach (var g in rows.Where(r => r.Options is { Method: QuantizationMethod.Gptq, ClipSearch: true }))
        {
            var rtn = rows.Single(r => r.Options == g.Options! with { Method = QuantizationMethod.Rtn });
            Assert.True(g.Result.Perplexity < rtn.Result.Perplexity, $"{g.Label} vs {rtn.Label}\n{text}");
        }
        double bestRotated = rows.Where(r => r.Options is { Method: QuantizationMethod.Gptq, Rotate: true }).Min(r => r.Result.Perplexity);
        Assert.True(bestRotated <= MaxPerplexityRatio * fp32, text);
    }

    private static string CalibrationInfo(IReadOnlyList<IReadOnlyList<int>> calibration, int count) =>
        $"{QuantizationEvaluation.CalibrationStart}..{QuantizationEvaluation.CalibrationStart + count - 1} ({calibration.Sum(s => Math.Min(s.Count, 512))} tokens)";
}
