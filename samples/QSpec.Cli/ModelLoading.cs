using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Formats;
using QSpec.Model;
using QSpec.Tokenization;

namespace QSpec.Cli;

/// <summary>Resolves the model, tokenizer and execution mode the user asked for.</summary>
internal static class ModelLoading
{
    /// <summary>Parses a --mode value; "auto" gives null (the best mode the weights support).</summary>
    public static ExecutionMode? ParseMode(string value) => value.ToLowerInvariant() switch
    {
        "auto" => null,
        "fp32" => ExecutionMode.Fp32,
        "w4a16" => ExecutionMode.W4A16,
        "w4a4" => ExecutionMode.W4A4,
        "w4a8" => ExecutionMode.W4A8,
        _ => throw new ArgumentException($"Unknown --mode '{value}'; use fp32, w4a16, w4a4 or w4a8.", "--mode"),
    };

    /// <summary>Parses a --backend value.</summary>
    public static BackendKind ParseBackend(string value) => value.ToLowerInvariant() switch
    {
        "auto" => BackendKind.Auto,
        "cpu" => BackendKind.Cpu,
        "cuda" => BackendKind.Cuda,
        "ilgpu-cpu" => BackendKind.IlgpuCpu,
        _ => throw new ArgumentException($"Unknown --backend '{value}'; use auto, cpu, cuda or ilgpu-cpu.", "--backend"),
    };

    /// <summary>Loads the weights, quantizing a float checkpoint with RTN when an INT4 mode needs it.</summary>
    public static LlamaWeights LoadWeights(string? path, bool needInt4)
    {
        path ??= SharedData.DefaultModel;
        var weights = Llama2cReader.Read(path);
        if (needInt4 && !weights.HasInt4)
        {
            Console.Error.WriteLine("qspec: quantizing the float checkpoint with RTN, per output channel (use `qspec quantize` for GPTQ).");
            weights = QuantizeRtn(weights);
        }
        return weights;
    }

    /// <summary>The tokenizer: explicit, else beside the model, else the default model's.</summary>
    public static LlamaTextTokenizer LoadTokenizer(string? tokenizerPath, string? modelPath, int vocabSize)
    {
        tokenizerPath ??= FindBeside(modelPath ?? SharedData.DefaultModel)
            ?? throw new FileNotFoundException($"No tokenizer found beside '{modelPath}'; pass --tokenizer.");
        var tokenizer = LlamaTextTokenizer.Load(tokenizerPath);
        tokenizer.EnsureVocabularySize(vocabSize);
        return tokenizer;
    }

    private static string? FindBeside(string modelPath)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(modelPath)) ?? ".";
        if (!Directory.Exists(dir)) return null;
        return Directory.EnumerateFiles(dir, "tok*.bin").Concat(Directory.EnumerateFiles(dir, "tokenizer.*"))
            .OrderBy(p => p, StringComparer.Ordinal).FirstOrDefault();
    }

    private static LlamaWeights QuantizeRtn(LlamaWeights w)
    {
        LinearWeight Q(LinearWeight l) => l.WithInt4(Int4Matrix.Quantize(l.Dense!, l.Rows, l.Columns, groupSize: 0), keepDense: true);
        var layers = w.Layers.Select(l => l with { Wq = Q(l.Wq), Wk = Q(l.Wk), Wv = Q(l.Wv), Wo = Q(l.Wo), W1 = Q(l.W1), W2 = Q(l.W2), W3 = Q(l.W3) }).ToArray();
        return new LlamaWeights(w.Config, w.TokenEmbedding, layers, w.FinalNorm, Q(w.Classifier), new QuantizationInfo("rtn", 0, "none", 0));
    }
}
