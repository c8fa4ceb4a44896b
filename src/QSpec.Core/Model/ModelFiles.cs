using System.Buffers.Binary;
using System.Text.Json;
using QSpec.Tokenization;

namespace QSpec.Model;

/// <summary>
/// Reads a model in any supported format, recognised by content rather than extension (see <see cref="Detect"/>),
/// with its tokenizer and chat template when the file or folder has them.
/// </summary>
public static class ModelFiles
{
    /// <summary>"GGUF" as a little-endian uint32.</summary>
    internal const uint GgufMagic = 0x46554747;

    /// <summary>
    /// The format of <paramref name="path"/>, by content: a folder holding config.json is a Hugging Face folder; a file
    /// starting "GGUF" is GGUF; an 8-byte length followed by a JSON object is safetensors (.qspec when its metadata says
    /// "format": "qspec", else a Hugging Face single-file checkpoint read with the config.json beside it); "ak42" is
    /// llama2.c version 1; seven plausible int32 fields are llama2.c version 0.
    /// </summary>
    /// <exception cref="FileNotFoundException">Nothing exists at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The content matches no supported format; the message names the file and what was seen.</exception>
    public static ModelFormat Detect(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Directory.Exists(path))
        {
            if (File.Exists(Path.Combine(path, "config.json"))) return ModelFormat.HuggingFaceFolder;
            throw new InvalidDataException($"Model folder '{path}' has no config.json: it is not a Hugging Face model folder.");
        }
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file not found: '{path}'.", path);
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
        Span<byte> head = stackalloc byte[28];
        int got = s.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..got];
        if (got >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == GgufMagic) return ModelFormat.Gguf;
        if (got >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == Llama2cReader.Magic) return ModelFormat.Llama2c;
        if (got >= 9 && head[8] == (byte)'{')
        {
            long n = BinaryPrimitives.ReadInt64LittleEndian(head);
            if (n >= 2 && n <= s.Length - 8)
                return IsQSpecHeader(s, n, path) ? ModelFormat.QSpec : SafetensorsBeside(path);
        }
        if (got == 28 && PlausibleLlama2cV0(head)) return ModelFormat.Llama2c;
        throw new InvalidDataException(
            $"'{path}' is not a supported model file: its first bytes are [{Convert.ToHexString(head[..Math.Min(got, 12)])}], " +
            "which is not GGUF (\"GGUF\"), safetensors or .qspec (8-byte header length, then '{'), llama2.c version 1 (\"ak42\"), " +
            "nor a llama2.c version-0 header (7 positive int32 fields).");
    }

    /// <summary>Reads the model at <paramref name="path"/> (a file or a Hugging Face folder) in whatever format it is.</summary>
    /// <param name="tokenizerPath">A tokenizer file to use instead of the model's own; see <see cref="Inference.ModelLoadOptions.TokenizerPath"/>.</param>
    /// <exception cref="FileNotFoundException">The model or tokenizer does not exist.</exception>
    /// <exception cref="InvalidDataException">The model is malformed or unsupported; the message names the file and the field.</exception>
    public static ModelFileContents Read(string path, string? tokenizerPath = null)
        => Read(path, tokenizerPath, null, CancellationToken.None);

    internal static ModelFileContents Read(string path, string? tokenizerPath, Action<double>? progress, CancellationToken cancellationToken)
    {
        var format = Detect(path);
        cancellationToken.ThrowIfCancellationRequested();
        ModelFileContents contents = format switch
        {
            ModelFormat.Llama2c => new(Llama2cReader.Read(path), null, null, format),
            ModelFormat.QSpec => ReadQSpec(path),
            ModelFormat.Gguf => Gguf.GgufModelReader.Read(path, readTokenizer: tokenizerPath is null, progress, cancellationToken),
            ModelFormat.HuggingFaceFolder => HuggingFace.HuggingFaceReader.Read(path, readTokenizer: tokenizerPath is null, progress, cancellationToken),
            _ => throw new InvalidDataException($"'{path}': format {format} is not supported."),
        };
        progress?.Invoke(1.0);
        var tokenizer = tokenizerPath is not null ? LlamaTextTokenizer.Load(tokenizerPath)
            : contents.Tokenizer ?? (FindTokenizerBeside(path) is string beside ? LlamaTextTokenizer.Load(beside) : null);
        tokenizer?.EnsureVocabularySize(contents.Weights.Config.VocabSize);
        return contents with { Tokenizer = tokenizer };
    }

    /// <summary>The first <c>tok*.bin</c> or <c>tokenizer.*</c> file in the model's folder (the folder itself for a Hugging Face folder), or null.</summary>
    internal static string? FindTokenizerBeside(string modelPath)
    {
        var full = Path.GetFullPath(modelPath);
        var dir = Directory.Exists(full) ? full : Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) return null;
        return Directory.EnumerateFiles(dir, "tok*.bin").Concat(Directory.EnumerateFiles(dir, "tokenizer.*"))
            .Where(p => !p.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal).FirstOrDefault();
    }

    private static ModelFileContents ReadQSpec(string path)
    {
        var file = QSpecFile.Read(path);
        LlamaTextTokenizer? tokenizer = null;
        if (file.TokenizerBytes is byte[] bytes) tokenizer = LlamaTextTokenizer.FromBytes(bytes, $"the tokenizer embedded in '{path}'");
        else if (file.TokenizerPath is string recorded)
        {
            var resolved = Path.IsPathRooted(recorded) ? recorded : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", recorded);
            if (File.Exists(resolved)) tokenizer = LlamaTextTokenizer.Load(resolved);
        }
        return new ModelFileContents(file.Weights, tokenizer, null, ModelFormat.QSpec);
    }

    /// <summary>True when the safetensors JSON header's "__metadata__" says "format": "qspec".</summary>
    private static bool IsQSpecHeader(FileStream s, long headerLength, string path)
    {
        if (headerLength > QSpecFile.MaxHeaderBytes)
            throw new InvalidDataException($"Invalid safetensors file '{path}', field 'header length': {headerLength} exceeds {QSpecFile.MaxHeaderBytes} bytes.");
        var json = new byte[headerLength];
        s.Position = 8;
        s.ReadExactly(json);
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("__metadata__", out var meta) && meta.ValueKind == JsonValueKind.Object
                && meta.TryGetProperty(QSpecFile.KeyFormat, out var f) && f.ValueKind == JsonValueKind.String && f.GetString() == "qspec";
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException) // invalid UTF-8 surfaces lazily as the latter
        {
            throw new InvalidDataException($"Invalid safetensors file '{path}', field 'header': not valid UTF-8 JSON ({e.Message}).", e);
        }
    }

    private static ModelFormat SafetensorsBeside(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        if (File.Exists(Path.Combine(dir, "config.json"))) return ModelFormat.HuggingFaceFolder;
        throw new InvalidDataException($"'{path}' is a safetensors file without a config.json beside it: pass the Hugging Face model folder.");
    }

    private static bool PlausibleLlama2cV0(ReadOnlySpan<byte> head)
    {
        for (int i = 0; i < 7; i++)
        {
            int v = BinaryPrimitives.ReadInt32LittleEndian(head[(4 * i)..]);
            if (i == 5) v = v == int.MinValue ? 0 : Math.Abs(v);
            if (v <= 0 || v > LlamaConfig.MaxDimension) return false;
        }
        return true;
    }
}
