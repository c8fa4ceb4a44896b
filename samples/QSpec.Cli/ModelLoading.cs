using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Quantization;
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

    /// <summary>
    /// Loads the weights and their tokenizer (explicit, else embedded in a .qspec file, else found beside the model),
    /// quantizing a float checkpoint with RTN when an INT4 mode needs it.
    /// </summary>
    public static (LlamaWeights Weights, LlamaTextTokenizer Tokenizer) Load(string? path, string? tokenizerPath, bool needInt4, bool needDense = false)
    {
        path ??= SharedData.DefaultModel;
        if (IsQSpec(path))
        {
            var file = QSpecFile.Read(path);
            var tokenizer = tokenizerPath is null && file.TokenizerBytes is byte[] embedded
                ? LoadEmbedded(embedded, path, file.Weights.Config.VocabSize)
                : LoadTokenizer(tokenizerPath, path, file.Weights.Config.VocabSize);
            return (needDense ? file.Weights.WithDequantizedDense() : file.Weights, tokenizer);
        }
        var weights = LoadWeights(path, needInt4);
        return (weights, LoadTokenizer(tokenizerPath, path, weights.Config.VocabSize));
    }

    /// <summary>Loads a llama2.c checkpoint, quantizing it with RTN when an INT4 mode needs it.</summary>
    public static LlamaWeights LoadWeights(string path, bool needInt4)
    {
        var weights = Llama2cReader.Read(path);
        if (needInt4 && !weights.HasInt4)
        {
            Console.Error.WriteLine("qspec: quantizing the float checkpoint with RTN, per output channel (use `qspec quantize` for GPTQ and rotation).");
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

    /// <summary>True for a .qspec file (by extension).</summary>
    public static bool IsQSpec(string path) => path.EndsWith(".qspec", StringComparison.OrdinalIgnoreCase);

    /// <summary>The tokenizer embedded in a .qspec file: written to a temporary file that the loader reads, then deleted.</summary>
    private static LlamaTextTokenizer LoadEmbedded(byte[] bytes, string modelPath, int vocabSize)
    {
        // No .bin/.model extension: LlamaTextTokenizer.Load tells the two formats apart by content.
        var temp = Path.Combine(Path.GetTempPath(), $"qspec-tokenizer-{Guid.NewGuid():N}.tokenizer");
        try
        {
            File.WriteAllBytes(temp, bytes);
            var tokenizer = LlamaTextTokenizer.Load(temp);
            if (tokenizer.VocabularySize != vocabSize)
                throw new InvalidDataException($"The tokenizer embedded in '{modelPath}' has {tokenizer.VocabularySize} tokens; the model's vocab_size is {vocabSize}.");
            return tokenizer;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>The first tok*.bin or tokenizer.* file in the model's folder, or null.</summary>
    public static string? FindBeside(string modelPath)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(modelPath)) ?? ".";
        if (!Directory.Exists(dir)) return null;
        return Directory.EnumerateFiles(dir, "tok*.bin").Concat(Directory.EnumerateFiles(dir, "tokenizer.*"))
            .OrderBy(p => p, StringComparer.Ordinal).FirstOrDefault();
    }

    private static LlamaWeights QuantizeRtn(LlamaWeights w)
        => ModelQuantizer.Quantize(w, new QuantizerOptions { Method = QuantizationMethod.Rtn, GroupSize = 0, ClipSearch = false, Rotate = false }, null);
}
