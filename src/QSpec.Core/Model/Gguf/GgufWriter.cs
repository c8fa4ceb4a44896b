using System.Buffers.Binary;
using System.Text;

namespace QSpec.Model.Gguf;

/// <summary>
/// Writes a GGUF version-3 file (the layout documented on <see cref="GgufHeader"/>): metadata in insertion order, then
/// tensor infos, then the data section aligned to 32 bytes with each tensor padded to 32.
/// </summary>
internal sealed class GgufWriter
{
    private readonly List<(string Key, object Value)> _metadata = [];
    private readonly List<(string Name, long[] Dims, GgufTensorType Type, byte[] Data)> _tensors = [];

    /// <summary>Adds a key: string, uint (UINT32), int (INT32), float (FLOAT32), bool, string[], float[] or int[] (INT32 array).</summary>
    public GgufWriter Add(string key, object value)
    {
        _metadata.Add((key, value));
        return this;
    }

    /// <summary>Adds a tensor; <paramref name="dims"/> are ne[0..n) (row length first), <paramref name="data"/> its encoded bytes.</summary>
    public GgufWriter AddTensor(string name, long[] dims, GgufTensorType type, byte[] data)
    {
        _tensors.Add((name, dims, type, data));
        return this;
    }

    public void Write(Stream s)
    {
        var w = new BinaryWriter(s, Encoding.UTF8, leaveOpen: true);
        w.Write(ModelFiles.GgufMagic);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            String(w, key);
            Value(w, value);
        }
        long offset = 0;
        foreach (var (name, dims, type, data) in _tensors)
        {
            String(w, name);
            w.Write((uint)dims.Length);
            foreach (var d in dims) w.Write((ulong)d);
            w.Write((uint)type);
            w.Write((ulong)offset);
            offset = GgufHeader.AlignUp(offset + data.Length, GgufHeader.DefaultAlignment);
        }
        w.Flush();
        Pad(s, GgufHeader.AlignUp(s.Position, GgufHeader.DefaultAlignment));
        long start = s.Position;
        foreach (var t in _tensors)
        {
            s.Write(t.Data);
            Pad(s, start + GgufHeader.AlignUp(s.Position - start, GgufHeader.DefaultAlignment));
        }
    }

    private static void Pad(Stream s, long to)
    {
        while (s.Position < to) s.WriteByte(0);
    }

    private static void String(BinaryWriter w, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void Value(BinaryWriter w, object value)
    {
        switch (value)
        {
            case string s: w.Write((uint)GgufValueType.String); String(w, s); break;
            case uint u: w.Write((uint)GgufValueType.UInt32); w.Write(u); break;
            case int i: w.Write((uint)GgufValueType.Int32); w.Write(i); break;
            case float f: w.Write((uint)GgufValueType.Float32); w.Write(f); break;
            case bool b: w.Write((uint)GgufValueType.Bool); w.Write(b); break;
            case string[] a:
                w.Write((uint)GgufValueType.Array); w.Write((uint)GgufValueType.String); w.Write((ulong)a.Length);
                foreach (var x in a) String(w, x);
                break;
            case float[] a:
                w.Write((uint)GgufValueType.Array); w.Write((uint)GgufValueType.Float32); w.Write((ulong)a.Length);
                foreach (var x in a) w.Write(x);
                break;
            case int[] a:
                w.Write((uint)GgufValueType.Array); w.Write((uint)GgufValueType.Int32); w.Write((ulong)a.Length);
                foreach (var x in a) w.Write(x);
                break;
            default: throw new ArgumentException($"No GGUF value type for {value.GetType().Name}.", nameof(value));
        }
    }

    /// <summary>Float32 values as F32 tensor bytes.</summary>
    public static byte[] F32(ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        return bytes;
    }
}
