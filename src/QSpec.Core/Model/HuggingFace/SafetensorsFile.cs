using System.Buffers.Binary;
using System.Text.Json;

namespace QSpec.Model.HuggingFace;

/// <summary>One tensor of a safetensors file; offsets are absolute file positions.</summary>
internal sealed record SafetensorsTensor(string Name, string Dtype, long[] Shape, long Start, long Length)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => checked(a * b));
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// The header of a safetensors file: uint64 little-endian n, n bytes of UTF-8 JSON mapping each tensor name to
/// {"dtype", "shape", "data_offsets": [begin, end)} relative to the data start 8 + n, plus an optional "__metadata__".
/// </summary>
/// <remarks>
/// Checked before anything is allocated for a tensor: n fits the file (and 100 MiB); every dtype is known; every
/// dimension is non-negative; the element count times the dtype size (overflow-checked) equals end − begin; the range
/// lies inside the file; no two tensors overlap. Failures are <see cref="InvalidDataException"/> naming the file and the field.
/// </remarks>
internal sealed class SafetensorsFile
{
    private const long MaxHeaderBytes = 100L << 20;

    private SafetensorsFile(string path, Dictionary<string, SafetensorsTensor> tensors) { Path = path; Tensors = tensors; }

    public string Path { get; }
    public Dictionary<string, SafetensorsTensor> Tensors { get; }

    /// <summary>Bytes per element of a safetensors dtype, or 0 when unknown.</summary>
    public static int ElementSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => 0,
    };

    public static SafetensorsFile Read(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
        long length = s.Length;
        if (length < 8) throw Bad(path, "header length", $"is missing: the file has {length} bytes");
        Span<byte> n8 = stackalloc byte[8];
        s.ReadExactly(n8);
        long n = BinaryPrimitives.ReadInt64LittleEndian(n8);
        if (n < 2 || n > MaxHeaderBytes || n > length - 8)
            throw Bad(path, "header length", $"is {n}; it must be in 2..{Math.Min(MaxHeaderBytes, length - 8)} for this {length}-byte file");
        var json = new byte[n];
        s.ReadExactly(json);
        long dataStart = 8 + n, dataLength = length - dataStart;
        var tensors = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw Bad(path, "header", $"is not valid JSON ({e.Message})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad(path, "header", $"is a JSON {doc.RootElement.ValueKind}, not an object");
            try
            {
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    if (p.Name == "__metadata__") continue;
                    var t = Entry(p, dataStart, dataLength, path);
                    if (!tensors.TryAdd(t.Name, t)) throw Bad(path, t.Name, "appears twice");
                }
            }
            catch (InvalidOperationException e) // System.Text.Json validates UTF-8 lazily, when a name or string is read
            {
                throw Bad(path, "header", $"is not valid UTF-8 JSON ({e.Message})");
            }
        }
        var sorted = tensors.Values.Where(t => t.Length > 0).OrderBy(t => t.Start).ToList();
        for (int i = 1; i < sorted.Count; i++)
            if (sorted[i].Start < sorted[i - 1].Start + sorted[i - 1].Length)
                throw Bad(path, sorted[i].Name + ".data_offsets", $"overlap tensor '{sorted[i - 1].Name}'");
        return new SafetensorsFile(path, tensors);
    }

    private static SafetensorsTensor Entry(JsonProperty p, long dataStart, long dataLength, string path)
    {
        var e = p.Value;
        if (e.ValueKind != JsonValueKind.Object) throw Bad(path, p.Name, $"is a JSON {e.ValueKind}, not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw Bad(path, p.Name + ".dtype", "is missing or not a string");
        var dtype = dt.GetString()!;
        int size = ElementSize(dtype);
        if (size == 0) throw Bad(path, p.Name + ".dtype", $"'{dtype}' is not a safetensors dtype");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array || sh.GetArrayLength() > 8)
            throw Bad(path, p.Name + ".shape", "is missing or not an array of at most 8 dimensions");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out shape[i]) || shape[i] < 0 || shape[i] > int.MaxValue)
                throw Bad(path, p.Name + ".shape", $"dimension {i} is not an integer in 0..{int.MaxValue}");
            i++;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw Bad(path, p.Name + ".data_offsets", "is missing or not [begin, end]");
        long begin = 0, end = 0;
        if (off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number
            || !off[0].TryGetInt64(out begin) || !off[1].TryGetInt64(out end) || begin < 0 || end < begin || end > dataLength)
            throw Bad(path, p.Name + ".data_offsets", $"[{off[0]}, {off[1]}] is not a range inside the {dataLength}-byte data section");
        long bytes;
        try { bytes = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * size); }
        catch (OverflowException) { throw Bad(path, p.Name + ".shape", "has more elements than a tensor may"); }
        if (bytes != end - begin)
            throw Bad(path, p.Name + ".data_offsets", $"span {end - begin} bytes, but {dtype} [{string.Join(", ", shape)}] needs {bytes}");
        return new SafetensorsTensor(p.Name, dtype, shape, dataStart + begin, end - begin);
    }

    /// <summary>Reads a F32, F16 or BF16 tensor as float32.</summary>
    public float[] ReadFloats(Stream s, SafetensorsTensor t)
    {
        if (t.Dtype is not ("F32" or "F16" or "BF16"))
            throw Bad(Path, t.Name + ".dtype", $"is {t.Dtype}; only F32, F16 and BF16 tensors are supported");
        var result = GC.AllocateUninitializedArray<float>(checked((int)t.Elements), pinned: true);
        s.Position = t.Start;
        var buffer = new byte[Math.Min(t.Length, 1 << 20)];
        int size = ElementSize(t.Dtype), done = 0;
        while (done < result.Length)
        {
            int count = Math.Min(result.Length - done, buffer.Length / size);
            var chunk = buffer.AsSpan(0, count * size);
            s.ReadExactly(chunk);
            var dst = result.AsSpan(done, count);
            for (int k = 0; k < count; k++)
                dst[k] = t.Dtype switch
                {
                    "F32" => BinaryPrimitives.ReadSingleLittleEndian(chunk[(4 * k)..]),
                    "F16" => (float)BinaryPrimitives.ReadHalfLittleEndian(chunk[(2 * k)..]),
                    _ => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(chunk[(2 * k)..]) << 16),
                };
            done += count;
        }
        return result;
    }

    public static InvalidDataException Bad(string path, string field, string problem)
        => new($"Invalid safetensors file '{path}', field '{field}': {problem}.");
}
