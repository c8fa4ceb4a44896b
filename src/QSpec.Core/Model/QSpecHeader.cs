using System.Globalization;
using System.Text.Json;

namespace QSpec.Model;

/// <summary>One tensor entry of a .qspec header, validated against the data section.</summary>
/// <param name="Begin">Offset of the first byte, relative to the data start.</param>
/// <param name="End">Offset one past the last byte.</param>
internal sealed record QSpecTensorEntry(string Name, string Dtype, long[] Shape, long Begin, long End);

/// <summary>Parses and checks the JSON header of a .qspec file (see <see cref="QSpecFile"/>).</summary>
internal sealed class QSpecHeader
{
    private QSpecHeader(Dictionary<string, string> metadata, Dictionary<string, QSpecTensorEntry> tensors)
    {
        Metadata = metadata;
        Tensors = tensors;
    }

    public Dictionary<string, string> Metadata { get; }
    public Dictionary<string, QSpecTensorEntry> Tensors { get; }

    /// <summary>Bytes per element of the dtypes a .qspec file may use.</summary>
    public static int ElementSize(string dtype) => dtype switch { "F32" => 4, "U8" => 1, _ => 0 };

    /// <summary>
    /// Parses <paramref name="json"/>, checking each entry's dtype, shape and offsets against
    /// <paramref name="dataLength"/>, and that the tensors tile the data section exactly (no overlap, no hole).
    /// </summary>
    public static QSpecHeader Parse(ReadOnlyMemory<byte> json, long dataLength, string path)
    {
        // JsonDocument checks UTF-8 only when a string is read (GetString throws InvalidOperationException), so check it here.
        if (!System.Text.Unicode.Utf8.IsValid(json.Span)) throw Bad(path, "header", "is not valid UTF-8");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw Bad(path, "header", $"is not valid JSON ({e.Message})"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad(path, "header", $"is a JSON {root.ValueKind}, not an object");
            var metadata = new Dictionary<string, string>();
            var tensors = new Dictionary<string, QSpecTensorEntry>();
            var seen = new HashSet<string>();
            foreach (var p in root.EnumerateObject())
            {
                if (!seen.Add(p.Name)) throw Bad(path, p.Name, "appears twice in the header");
                if (p.Name == "__metadata__") ParseMetadata(p.Value, metadata, path);
                else tensors[p.Name] = ParseTensor(p.Name, p.Value, dataLength, path);
            }
            CheckTiling(tensors.Values, dataLength, path);
            return new QSpecHeader(metadata, tensors);
        }
    }

    private static void ParseMetadata(JsonElement e, Dictionary<string, string> metadata, string path)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Bad(path, "__metadata__", "is not an object");
        foreach (var p in e.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String) throw Bad(path, $"__metadata__.{p.Name}", "is not a string");
            if (!metadata.TryAdd(p.Name, p.Value.GetString()!)) throw Bad(path, $"__metadata__.{p.Name}", "appears twice");
        }
    }

    private static QSpecTensorEntry ParseTensor(string name, JsonElement e, long dataLength, string path)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Bad(path, name, "is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw Bad(path, $"{name}.dtype", "is missing or not a string");
        string dtype = dt.GetString()!;
        int elementSize = ElementSize(dtype);
        if (elementSize == 0) throw Bad(path, $"{name}.dtype", $"is '{dtype}'; only F32 and U8 are used");
        var shape = Longs(e, "shape", name, path, -1);
        var offsets = Longs(e, "data_offsets", name, path, 2);
        long count = 1;
        foreach (var s in shape)
        {
            if (s < 0 || s > int.MaxValue) throw Bad(path, $"{name}.shape", $"has dimension {s}");
            count = s == 0 || count <= dataLength / s ? count * s : throw Bad(path, $"{name}.shape", $"[{string.Join(", ", shape)}] is larger than the data section ({dataLength} bytes)");
        }
        long begin = offsets[0], end = offsets[1];
        if (begin < 0 || end < begin || end > dataLength)
            throw Bad(path, $"{name}.data_offsets", $"[{begin}, {end}] is outside the data section of {dataLength} bytes");
        if (end - begin != count * elementSize)
            throw Bad(path, $"{name}.data_offsets", $"span {end - begin} bytes, but {dtype} [{string.Join(", ", shape)}] needs {count * elementSize}");
        return new QSpecTensorEntry(name, dtype, shape, begin, end);
    }

    private static long[] Longs(JsonElement e, string field, string name, string path, int expectedCount)
    {
        if (!e.TryGetProperty(field, out var a) || a.ValueKind != JsonValueKind.Array) throw Bad(path, $"{name}.{field}", "is missing or not an array");
        int n = a.GetArrayLength();
        if (expectedCount >= 0 ? n != expectedCount : n > 8) throw Bad(path, $"{name}.{field}", $"has {n} entries");
        var r = new long[n];
        int i = 0;
        foreach (var v in a.EnumerateArray())
            r[i++] = v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long x) ? x : throw Bad(path, $"{name}.{field}", $"entry {i} is not an integer");
        return r;
    }

    /// <summary>Sorted by offset, every tensor must start where the previous one ended, and the last end the data.</summary>
    private static void CheckTiling(IEnumerable<QSpecTensorEntry> entries, long dataLength, string path)
    {
        long expected = 0;
        string previous = "(data start)";
        foreach (var t in entries.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (t.Begin < expected) throw Bad(path, $"{t.Name}.data_offsets", $"overlap {previous} (begins at {t.Begin}, before {expected})");
            if (t.Begin > expected) throw Bad(path, $"{t.Name}.data_offsets", $"leave a hole after {previous} (begins at {t.Begin}, expected {expected})");
            expected = t.End;
            previous = t.Name;
        }
        if (expected != dataLength) throw Bad(path, "data_offsets", $"cover {expected} bytes, but the data section has {dataLength}");
    }

    public static InvalidDataException Bad(string path, string field, string what) =>
        new(string.Create(CultureInfo.InvariantCulture, $"{path}: field '{field}' {what}."));
}
