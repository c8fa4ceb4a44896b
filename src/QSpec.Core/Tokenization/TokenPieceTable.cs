using System.Globalization;
using System.Text;

namespace QSpec.Tokenization;

/// <summary>
/// What each token id prints as, llama2.c style: UTF-8 bytes of its piece with SentencePiece's "▁" as a space,
/// and for the byte-fallback pieces <c>&lt;0xHH&gt;</c> the single raw byte HH. Immutable; shared by decoders.
/// </summary>
internal sealed class TokenPieceTable
{
    private readonly byte[][] _bytes;
    private readonly bool[] _isByte;

    /// <summary>Builds the table from pieces indexed by id (null where an id has no piece: it prints nothing).</summary>
    public TokenPieceTable(IReadOnlyList<string?> pieces, int bosId, int eosId)
    {
        _bytes = new byte[pieces.Count][];
        _isByte = new bool[pieces.Count];
        for (int id = 0; id < pieces.Count; id++)
        {
            var piece = pieces[id] ?? "";
            if (TryParseBytePiece(piece, out byte value)) { _bytes[id] = [value]; _isByte[id] = true; }
            else _bytes[id] = Encoding.UTF8.GetBytes(piece.Replace('\u2581', ' '));
        }
        BosId = bosId; EosId = eosId;
    }

    /// <summary>Number of ids.</summary>
    public int Count => _bytes.Length;
    /// <summary>The begin-of-sequence id: prints nothing, and the next piece loses its leading space.</summary>
    public int BosId { get; }
    /// <summary>The end-of-sequence id: prints nothing.</summary>
    public int EosId { get; }

    /// <summary>The bytes <paramref name="id"/> prints as; a leading space is dropped when <paramref name="atStart"/>
    /// (run.c's <c>decode()</c> drops it after BOS; we also drop it at the start of a sequence, where encoding put the dummy prefix).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is not a token id.</exception>
    public ReadOnlySpan<byte> Surface(int id, bool atStart)
    {
        if ((uint)id >= (uint)_bytes.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id must be in 0..{_bytes.Length - 1}.");
        var bytes = _bytes[id].AsSpan();
        return atStart && !_isByte[id] && bytes.Length > 0 && bytes[0] == (byte)' ' ? bytes[1..] : bytes;
    }

    /// <summary>True for <c>&lt;0xHH&gt;</c> with two hex digits.</summary>
    internal static bool TryParseBytePiece(string piece, out byte value)
    {
        value = 0;
        return piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
