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
    /// Loads the model (any format <see cref="ModelFiles.Detect"/> recognises; the embedded stories260K when
    /// <paramref name="path"/> is null) and its tokenizer (explicit, else the model's own, else one beside it),
    /// quantizing a float model with RTN when an INT4 mode needs it.
    /// </summary>
    public static (LlamaWeights Weights, LlamaTextTokenizer Tokenizer) Load(string? path, string? tokenizerPath, bool needInt4, bool needDense = false, int? contextLength = null)
    {
        var (weights, tokenizer, _) = LoadWithTemplate(path, tokenizerPath, needInt4, needDense, contextLength);
        return (weights, tokenizer);
    }

    /// <summary><see cref="Load"/>, also returning the model's chat template (null when it has none).</summary>
    public static (LlamaWeights Weights, LlamaTextTokenizer Tokenizer, string? ChatTemplate) LoadWithTemplate(string? path, string? tokenizerPath, bool needInt4,
                                                                                                           bool needDense = false, int? contextLength = null)
    {
        var contents = Read(path, tokenizerPath);
        var weights = contents.Weights;
        if (contextLength is int n)
        {
            if (n < 1 || n > LlamaConfig.MaxDimension) throw new ArgumentException($"--context {n} is out of range 1..{LlamaConfig.MaxDimension}.", "--context");
            weights = weights.WithContextLength(n);
        }
        if (needInt4 && !weights.HasInt4)
        {
            Console.Error.WriteLine("qspec: quantizing the float model with RTN, per output channel (use `qspec quantize` for GPTQ and rotation).");
            weights = QuantizeRtn(weights);
        }
        return (needDense ? weights.WithDequantizedDense() : weights, contents.Tokenizer!, contents.ChatTemplate);
    }

    /// <summary>Reads the model and requires a tokenizer; a null <paramref name="path"/> is the embedded default model.</summary>
    public static ModelFileContents Read(string? path, string? tokenizerPath)
    {
        if (tokenizerPath is not null && !File.Exists(tokenizerPath))
            throw new ArgumentException($"Tokenizer file not found: '{tokenizerPath}'.", "--tokenizer");
        ModelFileContents contents;
        if (path is null)
        {
            if (!DefaultModel.IsAvailable)
                throw new ArgumentException("No model given and this build of qspec carries no default model: pass --model PATH " +
                    "(a GGUF file, a Hugging Face folder, a .qspec file or a llama2.c checkpoint).", "--model");
            contents = DefaultModel.Read(tokenizerPath);
        }
        else
        {
            if (!File.Exists(path) && !Directory.Exists(path))
                throw new ArgumentException($"Model not found: '{path}' (--model takes a GGUF file, a Hugging Face folder, a .qspec file or a llama2.c checkpoint).", "--model");
            contents = ModelFiles.Read(path, tokenizerPath);
        }
        if (contents.Tokenizer is null)
            throw new FileNotFoundException($"The model '{path}' has no tokenizer and none was found beside it; pass --tokenizer.");
        return contents;
    }

    /// <summary>A display name for the model: the file name, or "stories260K (embedded)".</summary>
    public static string DisplayName(string? path) => path is null ? "stories260K (embedded)" : Path.GetFileName(Path.TrimEndingDirectorySeparator(path));

    private static LlamaWeights QuantizeRtn(LlamaWeights w)
        => ModelQuantizer.Quantize(w, new QuantizerOptions { Method = QuantizationMethod.Rtn, GroupSize = 0, ClipSearch = false, Rotate = false }, null);
}
