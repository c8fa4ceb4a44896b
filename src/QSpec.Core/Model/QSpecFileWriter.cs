using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace QSpec.Model;

/// <summary>Writes the .qspec layout documented on <see cref="QSpecFile"/>.</summary>
internal static class QSpecFileWriter
{
    private sealed record Tensor(string Name, string Dtype, long[] Shape, Array Data)
    {
        public ReadOnlySpan<byte> Bytes => Data switch
        {
            float[] f => MemoryMarshal.AsBytes(f.AsSpan()),
            byte[] b => b,
            _ => throw new InvalidOperationException($"Unsupported tensor array type {Data.GetType()}."),
        };
    }

    public static void Write(string path, LlamaWeights weights, byte[]? tokenizerBytes, string? tokenizerPath,
                             IReadOnlyDictionary<string, string>? extraMetadata)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(weights);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException(".qspec files are written on little-endian machines only.");
        var metadata = Metadata(weights, tokenizerBytes, tokenizerPath);
        foreach (var (key, value) in extraMetadata ?? new Dictionary<string, string>())
            if (!metadata.TryAdd(key, value))
                throw new ArgumentException($"Metadata key '{key}' is reserved by the .qspec format.", nameof(extraMetadata));

        var tensors = Tensors(weights);
        var header = Header(tensors, metadata);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var t in tensors) stream.Write(t.Bytes);
    }

    internal static Dictionary<string, string> Metadata(LlamaWeights weights, byte[]? tokenizerBytes, string? tokenizerPath)
    {
        var inv = CultureInfo.InvariantCulture;
        var m = new Dictionary<string, string>
        {
            [QSpecFile.KeyFormat] = "qspec",
            [QSpecFile.KeyVersion] = QSpecFile.FormatVersion.ToString(inv),
            [QSpecFile.KeyConfig] = QSpecConfigJson.Serialize(weights.Config),
            [QSpecFile.KeyInt4Layout] = QSpecFile.Int4LayoutDescription,
        };
        if (weights.Quantization is { } q)
        {
            m[QSpecFile.KeyMethod] = q.Method;
            m[QSpecFile.KeyGroupSize] = q.GroupSize.ToString(inv);
            m[QSpecFile.KeyRotation] = q.Rotation;
            m[QSpecFile.KeyFfnHadamardBlock] = q.FfnHadamardBlock.ToString(inv);
        }
        if (tokenizerBytes is not null) m[QSpecFile.KeyTokenizerBase64] = Convert.ToBase64String(tokenizerBytes);
        else if (tokenizerPath is not null) m[QSpecFile.KeyTokenizerPath] = tokenizerPath;
        return m;
    }

    private static List<Tensor> Tensors(LlamaWeights w)
    {
        var c = w.Config;
        var list = new List<Tensor> { new(QSpecFile.EmbeddingName, "F32", [c.VocabSize, c.Dim], w.TokenEmbedding) };
        for (int i = 0; i < w.Layers.Count; i++)
        {
            list.Add(new(QSpecFile.AttentionNormName(i), "F32", [c.Dim], w.Layers[i].AttentionNorm));
            list.Add(new(QSpecFile.FfnNormName(i), "F32", [c.Dim], w.Layers[i].FfnNorm));
        }
        list.Add(new(QSpecFile.FinalNormName, "F32", [c.Dim], w.FinalNorm));
        foreach (var (name, l) in w.LinearLayers())
        {
            if (l.Int4 is { } q)
            {
                if (w.Quantization is null || q.GroupSize != w.Quantization.GroupSize)
                    throw new ArgumentException($"INT4 layer '{name}' has group size {q.GroupSize}, but the model's QuantizationInfo says {w.Quantization?.GroupSize.ToString(CultureInfo.InvariantCulture) ?? "null"}.", nameof(w));
                list.Add(new(QSpecFile.PackedName(name), "U8", [q.Rows, q.RowBytes], q.Data));
                list.Add(new(QSpecFile.ScalesName(name), "F32", [q.Rows, q.GroupCount], q.Scales));
            }
            bool tied = name == "classifier" && c.SharedClassifier && ReferenceEquals(l.Dense, w.TokenEmbedding);
            if (l.Dense is { } d && !tied) list.Add(new(QSpecFile.DenseName(name), "F32", [l.Rows, l.Columns], d));
        }
        if (c.SharedClassifier && !ReferenceEquals(w.Classifier.Dense, w.TokenEmbedding))
            throw new ArgumentException("The config says the classifier is shared, but it is not the embedding array.", nameof(w));
        return list;
    }

    private static byte[] Header(List<Tensor> tensors, Dictionary<string, string> metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("__metadata__");
            foreach (var (k, v) in metadata) json.WriteString(k, v);
            json.WriteEndObject();
            long offset = 0;
            foreach (var t in tensors)
            {
                long size = t.Bytes.Length;
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.Dtype);
                json.WriteStartArray("shape");
                foreach (var s in t.Shape) json.WriteNumberValue(s);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + size);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += size;
            }
            json.WriteEndObject();
        }
        // Pad with spaces so the tensor data starts 8-byte aligned (allowed by safetensors).
        int pad = (int)((8 - (8 + buffer.Length) % 8) % 8);
        for (int i = 0; i < pad; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }
}
