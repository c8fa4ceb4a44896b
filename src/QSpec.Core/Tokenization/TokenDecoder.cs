using System.Text;

namespace QSpec.Tokenization;

/// <summary>
/// Turns token ids into text one id at a time, for streaming generation. Byte-fallback tokens can split one
/// multi-byte UTF-8 character over several ids; <see cref="Append"/> holds those bytes back until the character
/// is complete, so every string it returns is whole text. Feeding a whole sequence and then calling <see cref="Flush"/>
/// gives exactly <see cref="LlamaTextTokenizer.Decode"/> of that sequence.
/// </summary>
/// <remarks>
/// Not thread-safe: one decoder per stream. BOS and EOS print nothing; the first piece of the stream and the piece
/// after a BOS lose one leading space (the dummy prefix). To stream a continuation of a prompt, feed the prompt's ids
/// first and discard their text, so that spacing and pending bytes are right.
/// Invalid UTF-8 becomes U+FFFD, as <see cref="Encoding.UTF8"/> decodes it.
/// </remarks>
public sealed class TokenDecoder
{
    private readonly TokenPieceTable _table;
    private readonly byte[] _pending = new byte[3]; // an unfinished UTF-8 character's lead byte and continuations
    private int _pendingCount;
    private bool _atStart = true;

    internal TokenDecoder(TokenPieceTable table) => _table = table;

    /// <summary>True while bytes of an incomplete UTF-8 character are held back.</summary>
    public bool HasPendingBytes => _pendingCount > 0;

    /// <summary>Adds one token and returns the text it completes (possibly empty).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is not a token id of this tokenizer.</exception>
    public string Append(int id)
    {
        var bytes = _table.Surface(id, _atStart);
        if (id == _table.BosId) { _atStart = true; return ""; }
        if (id == _table.EosId) return "";
        _atStart = false;
        if (bytes.IsEmpty) return "";

        Span<byte> all = _pendingCount + bytes.Length <= 256 ? stackalloc byte[_pendingCount + bytes.Length] : new byte[_pendingCount + bytes.Length];
        _pending.AsSpan(0, _pendingCount).CopyTo(all);
        bytes.CopyTo(all[_pendingCount..]);
        int split = all.Length - IncompleteTailLength(all);
        all[split..].CopyTo(_pending);
        _pendingCount = all.Length - split;
        return Encoding.UTF8.GetString(all[..split]);
    }

    /// <summary>Ends the stream: returns the text of any held-back bytes (as U+FFFD) and resets the decoder.</summary>
    public string Flush()
    {
        var text = Encoding.UTF8.GetString(_pending.AsSpan(0, _pendingCount));
        _pendingCount = 0;
        _atStart = true;
        return text;
    }

    /// <summary>
    /// Length of a trailing lead byte plus the continuation bytes after it, when they are fewer than the lead announces.
    /// Splitting there is safe: UTF-8 decoding never lets an invalid sequence run across a lead byte, so decoding the
    /// two parts separately gives the same text as decoding them together.
    /// </summary>
    internal static int IncompleteTailLength(ReadOnlySpan<byte> bytes)
    {
        for (int back = 1; back <= Math.Min(3, bytes.Length); back++)
        {
            byte b = bytes[^back];
            if ((b & 0xC0) == 0x80) continue; // continuation byte: keep looking for its lead
            int expected = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            return expected > back ? back : 0;
        }
        return 0;
    }
}
