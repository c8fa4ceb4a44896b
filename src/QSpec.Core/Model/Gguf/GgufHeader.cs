using System.Buffers.Binary;
using System.Text;

namespace QSpec.Model.Gguf;

/// <summary>One tensor's entry in the GGUF header, checked against the data section.</summary>
/// <param name="Dims">ne[0..n): ne[0] is the row length (contiguous), so a weight W[N, K] has Dims [K, N].</param>
/// <param name="Offset">Byte offset relative to the data section start (a multiple of the alignment).</param>
/// <param name="Bytes">Bytes the tensor occupies.</param>
internal sealed record GgufTensorInfo(string Name, long[] Dims, GgufTensorType Type, long Offset, long Bytes)
{
    /// <summary>Number of elements (checked product of <see cref="Dims"/>).</summary>
    public long Elements => Dims.Aggregate(1L, (a, b) => checked(a * b));
    /// <summary>"[64, 512]" for messages.</summary>
    public string Shape => "[" + string.Join(", ", Dims) + "]";
}

/// <summary>
/// The parsed header of a GGUF file (versions 2 and 3, little-endian): metadata key/values and tensor infos.
/// Layout: magic "GGUF", uint32 version, uint64 tensor_count, uint64 kv_count, the key/values (string key, uint32 type,
/// value; strings are uint64 length + UTF-8; arrays are uint32 element type + uint64 count + elements), the tensor infos
/// (string name, uint32 n_dims, uint64 ne[n_dims], uint32 ggml_type, uint64 offset), then padding to
/// <c>general.alignment</c> (default 32) where the data section starts.
/// </summary>
/// <remarks>
/// Every count and length is checked against the bytes left in the file before anything is allocated for it; arithmetic
/// on sizes is overflow-checked; each tensor must lie inside the data section, aligned, without overlapping another.
/// Failures are <see cref="InvalidDataException"/> naming the file and the field.
/// </remarks>
internal sealed class GgufHeader
{
    public const int DefaultAlignment = 32;
    private const int MaxDims = 4;
    private const long MaxKeyBytes = 1 << 16;
    private const long MaxStringBytes = 64L << 20;
    private const long MaxArrayCount = 1L << 26;
    private const long MaxTensorCount = 1L << 20;

    private GgufHeader(string path, int version, Dictionary<string, object> metadata, List<GgufTensorInfo> tensors, long dataStart, int alignment)
    {
        Path = path; Version = version; Metadata = metadata; Tensors = tensors; DataStart = dataStart; Alignment = alignment;
        TensorsByName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public string Path { get; }
    public int Version { get; }
    /// <summary>Values: long (integers), ulong (uint64 above long.MaxValue), double, bool, string, or an array:
    /// string[], long[], double[], bool[].</summary>
    public Dictionary<string, object> Metadata { get; }
    public List<GgufTensorInfo> Tensors { get; }
    public Dictionary<string, GgufTensorInfo> TensorsByName { get; }
    /// <summary>Absolute file offset of the data section.</summary>
    public long DataStart { get; }
    public int Alignment { get; }

    public static GgufHeader Read(Stream s, string path)
    {
        var r = new Reader(s, path);
        if (r.U32("magic") != ModelFiles.GgufMagic) throw r.Bad("magic", "is not \"GGUF\"");
        uint version = r.U32("version");
        if (version is not (2 or 3))
            throw r.Bad("version", version > 0xFFFF ? $"is {version}: a big-endian GGUF file, which is not supported"
                : $"GGUF version {version} is not supported (only versions 2 and 3)");
        long tensorCount = r.Count("tensor_count", 32, MaxTensorCount);
        long kvCount = r.Count("kv_count", 13, long.MaxValue);

        var metadata = new Dictionary<string, object>(StringComparer.Ordinal);
        for (long i = 0; i < kvCount; i++)
        {
            var key = r.String($"metadata key #{i}", MaxKeyBytes);
            var type = (GgufValueType)r.U32(key + " (type)");
            var value = r.Value(type, key);
            if (!metadata.TryAdd(key, value)) throw r.Bad(key, "appears twice");
        }

        int alignment = DefaultAlignment;
        if (metadata.TryGetValue("general.alignment", out var a))
        {
            if (a is not long al || al <= 0 || al > 1 << 20 || (al & (al - 1)) != 0)
                throw r.Bad("general.alignment", $"is {a}; it must be a power of two in 1..{1 << 20}");
            alignment = (int)al;
        }

        var infos = new List<(string Name, long[] Dims, GgufTensorType Type, long Offset)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (long i = 0; i < tensorCount; i++)
        {
            var name = r.String($"tensor #{i} name", MaxKeyBytes);
            if (!names.Add(name)) throw r.Bad(name, "is a tensor name that appears twice");
            uint nDims = r.U32(name + " n_dims");
            if (nDims is 0 or > MaxDims) throw r.Bad(name + " n_dims", $"is {nDims}; it must be in 1..{MaxDims}");
            var dims = new long[nDims];
            for (int d = 0; d < nDims; d++)
            {
                ulong ne = r.U64($"{name} ne[{d}]");
                if (ne == 0 || ne > int.MaxValue) throw r.Bad($"{name} ne[{d}]", $"is {ne}; it must be in 1..{int.MaxValue}");
                dims[d] = (long)ne;
            }
            var type = (GgufTensorType)r.U32(name + " type");
            ulong offset = r.U64(name + " offset");
            if (offset > long.MaxValue) throw r.Bad(name + " offset", $"is {offset}, past any file");
            infos.Add((name, dims, type, (long)offset));
        }
        long dataStart = AlignUp(s.Position, alignment);
        long dataLength = s.Length - dataStart;
        if (dataLength < 0 && infos.Count > 0) throw r.Bad("data section", $"starts at {dataStart}, past the end of the {s.Length}-byte file");

        var tensors = new List<GgufTensorInfo>(infos.Count);
        foreach (var (name, dims, type, offset) in infos)
        {
            long elements;
            try { elements = dims.Aggregate(1L, (x, y) => checked(x * y)); }
            catch (OverflowException) { throw r.Bad(name + " shape", $"[{string.Join(", ", dims)}] has more elements than a tensor may"); }
            var (blockElements, blockBytes) = GgufTypes.Geometry(type);
            long bytes = -1;
            if (blockElements > 0)
            {
                if (dims[0] % blockElements != 0)
                    throw r.Bad(name + " ne[0]", $"is {dims[0]}, not a multiple of {type}'s block of {blockElements}");
                try { bytes = checked(elements / blockElements * blockBytes); }
                catch (OverflowException) { throw r.Bad(name + " shape", "is too large"); }
            }
            if (offset % alignment != 0) throw r.Bad(name + " offset", $"is {offset}, not a multiple of the alignment {alignment}");
            if (bytes >= 0 && (offset > dataLength || bytes > dataLength - offset))
                throw r.Bad(name + " offset", $"{offset} + {bytes} bytes runs past the end of the {Math.Max(0, dataLength)}-byte data section");
            tensors.Add(new GgufTensorInfo(name, dims, type, offset, bytes));
        }
        var known = tensors.Where(t => t.Bytes >= 0).OrderBy(t => t.Offset).ToList();
        for (int i = 1; i < known.Count; i++)
            if (known[i].Offset < known[i - 1].Offset + known[i - 1].Bytes)
                throw r.Bad(known[i].Name + " offset", $"{known[i].Offset} overlaps tensor '{known[i - 1].Name}' ({known[i - 1].Offset} + {known[i - 1].Bytes} bytes)");
        return new GgufHeader(path, (int)version, metadata, tensors, dataStart, alignment);
    }

    public static long AlignUp(long value, int alignment) => checked((value + alignment - 1) / alignment * alignment);

    /// <summary>An <see cref="InvalidDataException"/> naming this file and <paramref name="field"/>.</summary>
    public InvalidDataException Bad(string field, string problem) => Bad(Path, field, problem);

    public static InvalidDataException Bad(string path, string field, string problem)
        => new($"Invalid GGUF file '{path}', field '{field}': {problem}.");

    /// <summary>Bounded little-endian reads over the header; every length is checked against the bytes left.</summary>
    private sealed class Reader(Stream s, string path)
    {
        private readonly byte[] _buffer = new byte[8];
        private readonly UTF8Encoding _utf8 = new(false, throwOnInvalidBytes: true);

        private long Left => s.Length - s.Position;

        public InvalidDataException Bad(string field, string problem) => GgufHeader.Bad(path, field, problem);

        private Span<byte> Fill(int n, string field)
        {
            if (Left < n) throw Bad(field, $"is truncated: the file ends at byte {s.Length}");
            s.ReadExactly(_buffer, 0, n);
            return _buffer.AsSpan(0, n);
        }

        public uint U32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Fill(4, field));
        public ulong U64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Fill(8, field));

        /// <summary>A uint64 count of items of at least <paramref name="minItemBytes"/> each, checked against the bytes left.</summary>
        public long Count(string field, long minItemBytes, long max)
        {
            ulong n = U64(field);
            if (n > (ulong)max || n > (ulong)(Left / minItemBytes))
                throw Bad(field, $"is {n}, more than the {Left} bytes left in the file can hold");
            return (long)n;
        }

        public string String(string field, long maxBytes)
        {
            ulong n = U64(field + " (length)");
            if (n > (ulong)Math.Min(maxBytes, Left)) throw Bad(field, $"has length {n}, more than the {Math.Min(maxBytes, Left)} bytes allowed here");
            var bytes = new byte[n];
            s.ReadExactly(bytes);
            try { return _utf8.GetString(bytes); }
            catch (DecoderFallbackException) { throw Bad(field, "is not valid UTF-8"); }
        }

        public object Value(GgufValueType type, string key) => type switch
        {
            GgufValueType.UInt8 => (long)Fill(1, key)[0],
            GgufValueType.Int8 => (long)(sbyte)Fill(1, key)[0],
            GgufValueType.UInt16 => (long)BinaryPrimitives.ReadUInt16LittleEndian(Fill(2, key)),
            GgufValueType.Int16 => (long)BinaryPrimitives.ReadInt16LittleEndian(Fill(2, key)),
            GgufValueType.UInt32 => (long)U32(key),
            GgufValueType.Int32 => (long)(int)U32(key),
            GgufValueType.Float32 => (double)BinaryPrimitives.ReadSingleLittleEndian(Fill(4, key)),
            GgufValueType.Bool => Fill(1, key)[0] switch { 0 => false, 1 => true, var b => throw Bad(key, $"is bool byte {b}, not 0 or 1") },
            GgufValueType.String => String(key, MaxStringBytes),
            GgufValueType.UInt64 => U64(key) is var u && u <= long.MaxValue ? (long)u : (object)u,
            GgufValueType.Int64 => (long)U64(key),
            GgufValueType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(Fill(8, key)),
            GgufValueType.Array => Array(key),
            _ => throw Bad(key, $"has unknown value type {(uint)type}"),
        };

        private object Array(string key)
        {
            var element = (GgufValueType)U32(key + " (element type)");
            long size = element switch
            {
                GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
                GgufValueType.UInt16 or GgufValueType.Int16 => 2,
                GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
                GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
                GgufValueType.Array => throw Bad(key, "is an array of arrays, which is not supported"),
                _ => throw Bad(key, $"is an array of unknown value type {(uint)element}"),
            };
            long n = Count(key + " (count)", size, MaxArrayCount);
            switch (element)
            {
                case GgufValueType.String:
                {
                    var a = new string[n];
                    for (long i = 0; i < n; i++) a[i] = String($"{key}[{i}]", MaxStringBytes);
                    return a;
                }
                case GgufValueType.Float32 or GgufValueType.Float64:
                {
                    var a = new double[n];
                    for (long i = 0; i < n; i++) a[i] = (double)Value(element, key);
                    return a;
                }
                case GgufValueType.Bool:
                {
                    var a = new bool[n];
                    for (long i = 0; i < n; i++) a[i] = (bool)Value(element, key);
                    return a;
                }
                default:
                {
                    var a = new long[n];
                    for (long i = 0; i < n; i++)
                        a[i] = Value(element, key) is long v ? v : throw Bad($"{key}[{i}]", "is a uint64 above 2^63");
                    return a;
                }
            }
        }
    }
}
