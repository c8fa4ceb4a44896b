using System.Buffers.Binary;
using System.Text;

namespace QSpec.Tokenization;

/// <summary>
/// Reads the pieces of a SentencePiece <c>ModelProto</c> (tokenizer.model) directly from its protobuf encoding:
/// field 1 is a repeated <c>SentencePiece</c> message {1: piece (string), 2: score (float), 3: type (enum, default 1 =
/// normal)}; every other field is skipped by its wire type. Used to write a GGUF vocabulary; the tokenizer itself is
/// run by Microsoft.ML.Tokenizers.
/// </summary>
internal static class SentencePieceProto
{
    public static (string[] Pieces, float[] Scores, int[] Types) ReadPieces(ReadOnlySpan<byte> proto, string name)
    {
        var pieces = new List<string>();
        var scores = new List<float>();
        var types = new List<int>();
        int pos = 0;
        while (pos < proto.Length)
        {
            var (field, wire) = Tag(proto, ref pos, name);
            if (field == 1 && wire == 2)
            {
                var message = Bytes(proto, ref pos, name);
                string piece = ""; float score = 0; int type = 1;
                int p = 0;
                while (p < message.Length)
                {
                    var (f, w) = Tag(message, ref p, name);
                    if (f == 1 && w == 2) piece = Encoding.UTF8.GetString(Bytes(message, ref p, name));
                    else if (f == 2 && w == 5) { Need(message, p, 4, name); score = BinaryPrimitives.ReadSingleLittleEndian(message[p..]); p += 4; }
                    else if (f == 3 && w == 0) type = (int)Varint(message, ref p, name);
                    else Skip(message, ref p, w, name);
                }
                pieces.Add(piece); scores.Add(score); types.Add(type);
            }
            else Skip(proto, ref pos, wire, name);
        }
        return ([.. pieces], [.. scores], [.. types]);
    }

    private static (int Field, int Wire) Tag(ReadOnlySpan<byte> b, ref int pos, string name)
    {
        ulong tag = Varint(b, ref pos, name);
        return ((int)(tag >> 3), (int)(tag & 7));
    }

    private static ulong Varint(ReadOnlySpan<byte> b, ref int pos, string name)
    {
        ulong v = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            Need(b, pos, 1, name);
            byte x = b[pos++];
            v |= (ulong)(x & 0x7F) << shift;
            if (x < 0x80) return v;
        }
        throw Bad(name, "a varint is longer than 10 bytes");
    }

    private static ReadOnlySpan<byte> Bytes(ReadOnlySpan<byte> b, ref int pos, string name)
    {
        ulong n = Varint(b, ref pos, name);
        if (n > (ulong)(b.Length - pos)) throw Bad(name, $"a length {n} runs past the end");
        var r = b.Slice(pos, (int)n);
        pos += (int)n;
        return r;
    }

    private static void Skip(ReadOnlySpan<byte> b, ref int pos, int wire, string name)
    {
        switch (wire)
        {
            case 0: Varint(b, ref pos, name); break;
            case 1: Need(b, pos, 8, name); pos += 8; break;
            case 2: Bytes(b, ref pos, name); break;
            case 5: Need(b, pos, 4, name); pos += 4; break;
            default: throw Bad(name, $"wire type {wire} is not supported");
        }
    }

    private static void Need(ReadOnlySpan<byte> b, int pos, int n, string name)
    {
        if (b.Length - pos < n) throw Bad(name, "the message is truncated");
    }

    private static InvalidDataException Bad(string name, string problem) => new($"Invalid SentencePiece model '{name}', field 'ModelProto': {problem}.");
}
