using QSpec.Kernels.Formats;

namespace QSpec.Model;

/// <summary>What <see cref="QSpecFile.Read"/> returns.</summary>
/// <param name="Weights">The model (INT4 and/or float32 linear layers, as written).</param>
/// <param name="Metadata">Every "__metadata__" entry, as strings.</param>
/// <param name="TokenizerBytes">The embedded tokenizer file's bytes, or null.</param>
/// <param name="TokenizerPath">The tokenizer path recorded instead of embedding it, or null.</param>
public sealed record QSpecFileContents(LlamaWeights Weights, IReadOnlyDictionary<string, string> Metadata,
                                       byte[]? TokenizerBytes, string? TokenizerPath);

/// <summary>
/// The .qspec model file: the safetensors layout (an 8-byte little-endian header length n, n bytes of UTF-8 JSON,
/// then the raw little-endian tensor bytes, contiguous and without holes).
/// </summary>
/// <remarks>
/// <para><b>Header.</b> Tensor name → {"dtype", "shape", "data_offsets": [begin, end)} relative to the data start, plus
/// "__metadata__" with string values: <see cref="KeyFormat"/> = "qspec", <see cref="KeyVersion"/> = "1",
/// <see cref="KeyConfig"/> (the <see cref="LlamaConfig"/> as JSON), the quantization keys when
/// <see cref="LlamaWeights.Quantization"/> is set, <see cref="KeyInt4Layout"/>, and optionally the tokenizer as
/// <see cref="KeyTokenizerBase64"/> (base64 of the tokenizer file) or <see cref="KeyTokenizerPath"/>.</para>
/// <para><b>Tensors.</b> "tok_embeddings" F32 [V, D]; "layers.{i}.attention_norm", "layers.{i}.ffn_norm" and "norm"
/// F32 [D]; for each linear layer L of <see cref="LlamaWeights.LinearLayers"/> (e.g. "layers.0.wq", "classifier"):
/// "L.weight" F32 [N, K] when it has float32 weights, and "L.qweight" U8 [N, PaddedColumns / 2] (the packed bytes of
/// <see cref="Int4Matrix.Data"/>, in its documented nibble and block order) with "L.scales" F32 [N, GroupCount] when it has
/// INT4 weights. A tied float32 classifier (config SharedClassifier) has no tensor of its own.</para>
/// <para>The reader checks every offset, length, dtype and shape against the file size and the config before
/// allocating, and throws <see cref="InvalidDataException"/> naming the file and the field.</para>
/// </remarks>
public static partial class QSpecFile
{
    /// <summary>The current format version.</summary>
    public const int FormatVersion = 1;
    /// <summary>Largest accepted JSON header (it must also fit in the file).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    /// <summary>Metadata key: always "qspec".</summary>
    public const string KeyFormat = "format";
    /// <summary>Metadata key: the format version ("1").</summary>
    public const string KeyVersion = "format_version";
    /// <summary>Metadata key: the model config as JSON.</summary>
    public const string KeyConfig = "config";
    /// <summary>Metadata key: <see cref="QuantizationInfo.Method"/>.</summary>
    public const string KeyMethod = "quantization.method";
    /// <summary>Metadata key: <see cref="QuantizationInfo.GroupSize"/> (also the group size of every INT4 tensor).</summary>
    public const string KeyGroupSize = "quantization.group_size";
    /// <summary>Metadata key: <see cref="QuantizationInfo.Rotation"/>.</summary>
    public const string KeyRotation = "quantization.rotation";
    /// <summary>Metadata key: <see cref="QuantizationInfo.FfnHadamardBlock"/>.</summary>
    public const string KeyFfnHadamardBlock = "quantization.ffn_hadamard_block";
    /// <summary>Metadata key: a one-line description of the INT4 byte layout.</summary>
    public const string KeyInt4Layout = "int4.layout";
    /// <summary>Metadata key: the tokenizer file, base64.</summary>
    public const string KeyTokenizerBase64 = "tokenizer.base64";
    /// <summary>Metadata key: a path to the tokenizer file (used when it is not embedded).</summary>
    public const string KeyTokenizerPath = "tokenizer.path";

    internal const string Int4LayoutDescription =
        "Int4Matrix v1: nibble = q + 8, rows padded with q = 0 to a multiple of 64 columns, 64-column blocks of 32 bytes, " +
        "byte i of block b = column 64b+i (low nibble) | column 64b+32+i (high nibble); w = q * scales[n, k / group_size]";

    /// <summary>Writes <paramref name="weights"/> to <paramref name="path"/> (overwriting it).</summary>
    /// <param name="tokenizerBytes">A tokenizer file to embed (base64 in the metadata), or null.</param>
    /// <param name="tokenizerPath">A tokenizer path to record when <paramref name="tokenizerBytes"/> is null, or null.</param>
    /// <param name="extraMetadata">More string metadata (keys must not clash with the reserved ones).</param>
    public static void Write(string path, LlamaWeights weights, byte[]? tokenizerBytes = null, string? tokenizerPath = null,
                             IReadOnlyDictionary<string, string>? extraMetadata = null)
        => QSpecFileWriter.Write(path, weights, tokenizerBytes, tokenizerPath, extraMetadata);

    /// <summary>Reads a .qspec file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the field.</exception>
    public static QSpecFileContents Read(string path) => QSpecFileReader.Read(path);

    /// <summary>The tensors a model of this shape stores for linear layer <paramref name="name"/>.</summary>
    internal static string DenseName(string name) => name + ".weight";
    internal static string PackedName(string name) => name + ".qweight";
    internal static string ScalesName(string name) => name + ".scales";
    internal const string EmbeddingName = "tok_embeddings";
    internal const string FinalNormName = "norm";
    internal static string AttentionNormName(int layer) => $"layers.{layer}.attention_norm";
    internal static string FfnNormName(int layer) => $"layers.{layer}.ffn_norm";
}
