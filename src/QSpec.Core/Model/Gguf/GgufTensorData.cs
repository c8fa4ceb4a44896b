using System.Buffers.Binary;
using QSpec.Kernels.Formats;

namespace QSpec.Model.Gguf;

/// <summary>
/// Decodes GGUF tensor data (see <see cref="GgufTypes.Geometry"/> for the block layouts): any supported type to float32,
/// and Q4_0 to an <see cref="Int4Matrix"/> with G = 32 without loss.
/// </summary>
/// <remarks>
/// Q4_0 → Int4Matrix: a Q4_0 value is (u − 8)·d with u the 4-bit code and d an fp16 scale; an Int4Matrix value is
/// (u − 8)·s, so u is copied and s = (float)d, exactly. Only the nibble order differs: Q4_0 packs a 32-value block as
/// byte j = value j (low) | value j + 16 (high), Int4Matrix packs a 64-column block as byte i = column i (low) | column
/// i + 32 (high). Columns past K (up to the next multiple of 64) get u = 8, i.e. zero.
/// </remarks>
internal static class GgufTensorData
{
    /// <summary>The tensor as float32, row-major in GGUF order (ne[0] fastest).</summary>
    public static float[] ReadFloats(Stream s, GgufHeader h, GgufTensorInfo t)
    {
        Require(h, t, GgufTensorType.F32, GgufTensorType.F16, GgufTensorType.BF16, GgufTensorType.Q8_0, GgufTensorType.Q4_0);
        long rows = t.Elements / t.Dims[0];
        int cols = (int)t.Dims[0];
        var result = GC.AllocateUninitializedArray<float>(checked((int)t.Elements), pinned: true);
        var row = new byte[RowBytes(t)];
        s.Position = checked(h.DataStart + t.Offset);
        for (long r = 0; r < rows; r++)
        {
            s.ReadExactly(row);
            DecodeRow(t.Type, row, result.AsSpan(checked((int)(r * cols)), cols));
        }
        return result;
    }

    /// <summary>A Q4_0 tensor W[N, K] (Dims [K, N]) as an Int4Matrix with G = 32, bit-exact.</summary>
    public static Int4Matrix ReadQ4_0(Stream s, GgufHeader h, GgufTensorInfo t)
    {
        Require(h, t, GgufTensorType.Q4_0);
        int cols = (int)t.Dims[0], rows = checked((int)(t.Elements / cols));
        var m = Int4Matrix.CreateZero(rows, cols, 32);
        var row = new byte[RowBytes(t)];
        s.Position = checked(h.DataStart + t.Offset);
        for (int n = 0; n < rows; n++)
        {
            s.ReadExactly(row);
            Q4_0RowToInt4(row, m, n);
        }
        return m;
    }

    /// <summary>Copies one Q4_0 row (K / 32 blocks of 18 bytes) into row <paramref name="n"/> of <paramref name="m"/> (G = 32).</summary>
    public static void Q4_0RowToInt4(ReadOnlySpan<byte> row, Int4Matrix m, int n)
    {
        int blocks = m.Columns / 32;
        var data = m.Data.AsSpan(n * m.RowBytes, m.RowBytes);
        for (int b = 0; b < blocks; b++)
        {
            var block = row.Slice(b * 18, 18);
            m.Scales[n * m.GroupCount + b] = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
            for (int j = 0; j < 16; j++)
            {
                byte q = block[2 + j];
                Put(data, 32 * b + j, q & 0xF);
                Put(data, 32 * b + j + 16, q >> 4);
            }
        }

        static void Put(Span<byte> data, int k, int u)
        {
            var (i, high) = Int4Matrix.Locate(k);
            data[i] = high ? (byte)((data[i] & 0x0F) | (u << 4)) : (byte)((data[i] & 0xF0) | u);
        }
    }

    /// <summary>Decodes one row of <paramref name="type"/> into <paramref name="destination"/> (its length is the row length).</summary>
    public static void DecodeRow(GgufTensorType type, ReadOnlySpan<byte> src, Span<float> destination)
    {
        switch (type)
        {
            case GgufTensorType.F32:
                for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
                break;
            case GgufTensorType.F16:
                for (int i = 0; i < destination.Length; i++) destination[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(2 * i)..]);
                break;
            case GgufTensorType.BF16:
                for (int i = 0; i < destination.Length; i++) destination[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]) << 16);
                break;
            case GgufTensorType.Q8_0:
                for (int b = 0; b < destination.Length / 32; b++)
                {
                    var block = src.Slice(b * 34, 34);
                    float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
                    for (int j = 0; j < 32; j++) destination[32 * b + j] = (sbyte)block[2 + j] * d;
                }
                break;
            case GgufTensorType.Q4_0:
                for (int b = 0; b < destination.Length / 32; b++)
                {
                    var block = src.Slice(b * 18, 18);
                    float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
                    for (int j = 0; j < 16; j++)
                    {
                        destination[32 * b + j] = ((block[2 + j] & 0xF) - 8) * d;
                        destination[32 * b + j + 16] = ((block[2 + j] >> 4) - 8) * d;
                    }
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Not a decodable GGUF type.");
        }
    }

    private static int RowBytes(GgufTensorInfo t)
    {
        var (e, b) = GgufTypes.Geometry(t.Type);
        return checked((int)(t.Dims[0] / e * b));
    }

    private static void Require(GgufHeader h, GgufTensorInfo t, params GgufTensorType[] allowed)
    {
        if (!allowed.Contains(t.Type))
            throw h.Bad(t.Name + " type", $"is {GgufTypes.Name(t.Type)}, which is not supported here (supported: {string.Join(", ", allowed)}); " +
                "requantize the model to Q4_0, Q8_0 or F16 with llama-quantize");
    }
}
