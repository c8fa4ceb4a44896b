using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using QSpec.Kernels.Formats;

namespace QSpec.Model;

/// <summary>Reads the .qspec layout documented on <see cref="QSpecFile"/>, checking everything before allocating.</summary>
internal static class QSpecFileReader
{
    public static QSpecFileContents Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file not found: '{path}'.", path);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException(".qspec files are read on little-endian machines only.");
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        long fileLength = s.Length;
        if (fileLength < 8) throw Bad(path, "header length", $"is missing: the file has {fileLength} bytes");
        Span<byte> lengthBytes = stackalloc byte[8];
        s.ReadExactly(lengthBytes);
        long n = BinaryPrimitives.ReadInt64LittleEndian(lengthBytes);
        if (n < 2 || n > QSpecFile.MaxHeaderBytes || n > fileLength - 8)
            throw Bad(path, "header length", $"is {n}; it must be in 2..{Math.Min(QSpecFile.MaxHeaderBytes, fileLength - 8)} for this {fileLength}-byte file");
        var json = new byte[n];
        s.ReadExactly(json);
        long dataStart = 8 + n;
        var header = QSpecHeader.Parse(json, fileLength - dataStart, path);
        var meta = header.Metadata;

        if (Meta(meta, QSpecFile.KeyFormat, path) != "qspec") throw Bad(path, QSpecFile.KeyFormat, $"is '{meta[QSpecFile.KeyFormat]}', not 'qspec'");
        if (Meta(meta, QSpecFile.KeyVersion, path) != QSpecFile.FormatVersion.ToString(CultureInfo.InvariantCulture))
            throw Bad(path, QSpecFile.KeyVersion, $"is '{meta[QSpecFile.KeyVersion]}'; this reader supports {QSpecFile.FormatVersion}");
        var config = QSpecConfigJson.Parse(Meta(meta, QSpecFile.KeyConfig, path), path);
        var quantization = ParseQuantization(meta, config, path);

        var used = new HashSet<string>();
        var reader = new TensorReader(s, dataStart, header, used, path);
        int d = config.Dim, v = config.VocabSize;
        var embedding = reader.Floats(QSpecFile.EmbeddingName, v, d);
        var layers = new List<LayerWeights>(config.Layers);
        for (int i = 0; i < config.Layers; i++)
        {
            string p = $"layers.{i}.";
            LinearWeight L(string name, int rows, int cols) => reader.Linear(p + name, rows, cols, quantization);
            layers.Add(new LayerWeights(
                reader.Floats(QSpecFile.AttentionNormName(i), d), L("wq", d, d), L("wk", config.KvDim, d), L("wv", config.KvDim, d),
                L("wo", d, d), reader.Floats(QSpecFile.FfnNormName(i), d),
                L("w1", config.HiddenDim, d), L("w2", d, config.HiddenDim), L("w3", config.HiddenDim, d)));
        }
        var finalNorm = reader.Floats(QSpecFile.FinalNormName, d);
        var classifier = config.SharedClassifier ? LinearWeight.FromDense(embedding, v, d) : reader.Linear("classifier", v, d, quantization);
        var unused = header.Tensors.Keys.Where(k => !used.Contains(k)).Order(StringComparer.Ordinal).FirstOrDefault();
        if (unused is not null) throw Bad(path, unused, "is not a tensor of this model" + (config.SharedClassifier && unused.StartsWith("classifier", StringComparison.Ordinal) ? " (the classifier is shared)" : ""));

        LlamaWeights weights;
        try { weights = new LlamaWeights(config, embedding, layers, finalNorm, classifier, quantization); }
        catch (ArgumentException e) { throw Bad(path, e.ParamName ?? "weights", $"is inconsistent: {e.Message}"); }
        return new QSpecFileContents(weights, meta, Tokenizer(meta, path), meta.GetValueOrDefault(QSpecFile.KeyTokenizerPath));
    }

    private static QuantizationInfo? ParseQuantization(Dictionary<string, string> meta, LlamaConfig config, string path)
    {
        if (!meta.TryGetValue(QSpecFile.KeyMethod, out var method)) return null;
        int group = MetaInt(meta, QSpecFile.KeyGroupSize, path);
        try { Int4Matrix.ValidateGroupSize(group); }
        catch (ArgumentException) { throw Bad(path, QSpecFile.KeyGroupSize, $"is {group}; it must be 0, 32, 64 or 128"); }
        int block = MetaInt(meta, QSpecFile.KeyFfnHadamardBlock, path);
        if (block < 0 || (block > 0 && ((block & (block - 1)) != 0 || config.HiddenDim % block != 0)))
            throw Bad(path, QSpecFile.KeyFfnHadamardBlock, $"is {block}; it must be 0 or a power of two dividing hidden_dim {config.HiddenDim}");
        return new QuantizationInfo(method, group, Meta(meta, QSpecFile.KeyRotation, path), block);
    }

    private static byte[]? Tokenizer(Dictionary<string, string> meta, string path)
    {
        if (!meta.TryGetValue(QSpecFile.KeyTokenizerBase64, out var b64)) return null;
        try { return Convert.FromBase64String(b64); }
        catch (FormatException) { throw Bad(path, QSpecFile.KeyTokenizerBase64, "is not valid base64"); }
    }

    private static string Meta(Dictionary<string, string> meta, string key, string path) =>
        meta.TryGetValue(key, out var v) ? v : throw Bad(path, key, "is missing from __metadata__");

    private static int MetaInt(Dictionary<string, string> meta, string key, string path) =>
        int.TryParse(Meta(meta, key, path), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v)
            ? v : throw Bad(path, key, $"is '{meta[key]}', not an integer");

    private static InvalidDataException Bad(string path, string field, string what) => QSpecHeader.Bad(path, field, what);

    /// <summary>Reads named tensors after checking their dtype and shape against what the config expects.</summary>
    private sealed class TensorReader(FileStream s, long dataStart, QSpecHeader header, HashSet<string> used, string path)
    {
        public float[] Floats(string name, params int[] shape)
        {
            var e = Entry(name, "F32", shape) ?? throw Bad(path, name, "is missing");
            var a = GC.AllocateUninitializedArray<float>(checked((int)((e.End - e.Begin) / sizeof(float))), pinned: true);
            Load(e, MemoryMarshal.AsBytes(a.AsSpan()));
            return a;
        }

        public LinearWeight Linear(string name, int rows, int cols, QuantizationInfo? q)
        {
            float[]? dense = Entry(QSpecFile.DenseName(name), "F32", rows, cols) is null ? null : Floats(QSpecFile.DenseName(name), rows, cols);
            Int4Matrix? int4 = null;
            bool hasPacked = header.Tensors.ContainsKey(QSpecFile.PackedName(name)), hasScales = header.Tensors.ContainsKey(QSpecFile.ScalesName(name));
            if (hasPacked || hasScales)
            {
                if (!hasPacked || !hasScales) throw Bad(path, hasPacked ? QSpecFile.ScalesName(name) : QSpecFile.PackedName(name), "is missing (INT4 layers need packed bytes and scales)");
                if (q is null) throw Bad(path, QSpecFile.KeyGroupSize, $"is missing but '{name}' is INT4");
                var zero = Int4Matrix.CreateZero(rows, cols, q.GroupSize); // the documented sizes, and a pinned buffer
                var packed = Entry(QSpecFile.PackedName(name), "U8", rows, zero.RowBytes)!;
                Load(packed, zero.Data);
                var scales = Floats(QSpecFile.ScalesName(name), rows, zero.GroupCount);
                int4 = new Int4Matrix(rows, cols, q.GroupSize, zero.Data, scales);
            }
            if (dense is null && int4 is null) throw Bad(path, QSpecFile.DenseName(name), "is missing (a linear layer needs float32 or INT4 weights)");
            return new LinearWeight(rows, cols, dense, int4);
        }

        /// <summary>The entry, checked against dtype and shape; null when absent.</summary>
        private QSpecTensorEntry? Entry(string name, string dtype, params int[] shape)
        {
            if (!header.Tensors.TryGetValue(name, out var e)) return null;
            if (e.Dtype != dtype) throw Bad(path, $"{name}.dtype", $"is {e.Dtype}, expected {dtype}");
            if (!e.Shape.SequenceEqual(shape.Select(x => (long)x)))
                throw Bad(path, $"{name}.shape", $"is [{string.Join(", ", e.Shape)}], expected [{string.Join(", ", shape)}] from the config");
            used.Add(name);
            return e;
        }

        private void Load(QSpecTensorEntry e, Span<byte> destination)
        {
            s.Position = dataStart + e.Begin;
            s.ReadExactly(destination);
        }
    }
}
