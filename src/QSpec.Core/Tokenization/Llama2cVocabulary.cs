using System.Buffers.Binary;
using System.Text;

namespace QSpec.Tokenization;

/// <summary>
/// The contents of a llama2.c tokenizer file (<c>tokenizer.bin</c>, <c>tok512.bin</c>):
/// <c>int32 max_token_length</c>, then until the end of the file one entry per token id:
/// <c>float32 score, int32 byte_length, byte_length bytes of UTF-8</c>. All little-endian.
/// </summary>
/// <remarks>
/// Layout invariants checked on load (llama2.c's <c>run.c</c> relies on them without checking):
/// id 0 is the unknown token, 1 is BOS (stored as <c>"\n&lt;s&gt;\n"</c>), 2 is EOS (<c>"\n&lt;/s&gt;\n"</c>),
/// ids 3..258 are the byte-fallback tokens <c>&lt;0x00&gt;..&lt;0xFF&gt;</c>, so byte <c>b</c> is id <c>b + 3</c>;
/// SentencePiece's "▁" is stored as a plain space.
/// </remarks>
internal sealed class Llama2cVocabulary
{
    /// <summary>Id of the unknown token.</summary>
    public const int UnknownId = 0;
    /// <summary>Id of the begin-of-sequence token.</summary>
    public const int BosId = 1;
    /// <summary>Id of the end-of-sequence token.</summary>
    public const int EosId = 2;
    /// <summary>Id of byte-fallback token <c>&lt;0x00&gt;</c>; byte b is <c>ByteOffset + b</c>.</summary>
    public const int ByteOffset = 3;
    /// <summary>Smallest vocabulary that holds the three special tokens and the 256 byte tokens.</summary>
    public const int MinimumSize = ByteOffset + 256;

    private Llama2cVocabulary(string path, int maxTokenLength, string[] pieces, float[] scores)
    {
        Path = path; MaxTokenLength = maxTokenLength; Pieces = pieces; Scores = scores;
    }

    /// <summary>The file this vocabulary was read from (for messages).</summary>
    public string Path { get; }
    /// <summary>The header's longest token, in bytes.</summary>
    public int MaxTokenLength { get; }
    /// <summary>Token strings by id, as stored (spaces, not "▁").</summary>
    public string[] Pieces { get; }
    /// <summary>Merge scores by id.</summary>
    public float[] Scores { get; }

    /// <summary>The byte-fallback piece for <paramref name="value"/>, e.g. <c>&lt;0x0A&gt;</c>.</summary>
    public static string BytePiece(int value) => $"<0x{value:X2}>";

    /// <summary>Reads and validates a llama2.c tokenizer file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">A field is out of range, the file is truncated, or the layout invariants do not hold.</exception>
    public static Llama2cVocabulary Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Tokenizer file not found: {path}", path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        return Parse(stream, path);
    }

    /// <summary>Parses a llama2.c tokenizer from a seekable stream; <paramref name="path"/> only names it in messages.</summary>
    /// <remarks>Every length is checked against the bytes left in the stream before anything is allocated for it,
    /// so a corrupt or wrong file (a model checkpoint, say) fails fast instead of driving a huge allocation.</remarks>
    public static Llama2cVocabulary Parse(Stream stream, string path)
    {
        long size = stream.Length;
        Span<byte> header = stackalloc byte[8];
        if (stream.ReadAtLeast(header[..4], 4, throwOnEndOfStream: false) < 4)
            throw Bad(path, "max_token_length", 0, $"the file has {size} bytes, fewer than the 4-byte header");
        int maxTokenLength = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (maxTokenLength <= 0 || maxTokenLength > size)
            throw Bad(path, "max_token_length", 0, $"value {maxTokenLength} is not in 1..{size} (the file size)");

        var pieces = new List<string>();
        var scores = new List<float>();
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        var bytes = new byte[Math.Min(maxTokenLength, 256)];
        long offset = 4;
        while (offset < size)
        {
            int id = pieces.Count;
            int got = stream.ReadAtLeast(header, 8, throwOnEndOfStream: false);
            if (got < 8) throw Bad(path, $"token {id} header", offset, $"truncated: {got} bytes left, 8 needed");
            float score = BinaryPrimitives.ReadSingleLittleEndian(header);
            int length = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
            if (!float.IsFinite(score)) throw Bad(path, $"token {id} score", offset, $"value {score} is not finite");
            if (length <= 0 || length > maxTokenLength)
                throw Bad(path, $"token {id} length", offset + 4, $"value {length} is not in 1..{maxTokenLength} (max_token_length)");
            offset += 8;
            if (size - offset < length)
                throw Bad(path, $"token {id} bytes", offset, $"truncated: {size - offset} bytes left, {length} needed");
            if (length > bytes.Length) bytes = new byte[length];
            stream.ReadExactly(bytes, 0, length);
            try { pieces.Add(utf8.GetString(bytes, 0, length)); }
            catch (DecoderFallbackException e) { throw Bad(path, $"token {id} bytes", offset, $"not valid UTF-8 ({e.Message})"); }
            scores.Add(score);
            offset += length;
        }

        CheckLayout(path, pieces, offset);
        return new Llama2cVocabulary(path, maxTokenLength, [.. pieces], [.. scores]);
    }

    /// <summary>
    /// A vocabulary from SentencePiece pieces and scores (GGUF <c>tokenizer.ggml.tokens</c>/<c>scores</c>), stored as
    /// llama2.c's export does: "▁" becomes a space, BOS and EOS become <c>"\n&lt;s&gt;\n"</c> and <c>"\n&lt;/s&gt;\n"</c>.
    /// </summary>
    /// <exception cref="InvalidDataException">The counts differ, a score is not finite, or the llama2.c layout does not hold.</exception>
    public static Llama2cVocabulary FromPieces(string path, IReadOnlyList<string> sentencePieces, IReadOnlyList<float> scores)
    {
        if (sentencePieces.Count != scores.Count)
            throw Bad(path, "scores", -1, $"{scores.Count} scores for {sentencePieces.Count} tokens");
        var pieces = new string[sentencePieces.Count];
        int maxLength = 1;
        for (int id = 0; id < pieces.Length; id++)
        {
            if (!float.IsFinite(scores[id])) throw Bad(path, $"token {id} score", -1, $"value {scores[id]} is not finite");
            pieces[id] = id == BosId ? "\n<s>\n" : id == EosId ? "\n</s>\n" : sentencePieces[id].Replace('\u2581', ' ');
            if (pieces[id].Length == 0) throw Bad(path, $"token {id}", -1, "the piece is empty");
            maxLength = Math.Max(maxLength, Encoding.UTF8.GetByteCount(pieces[id]));
        }
        CheckLayout(path, pieces, -1);
        return new Llama2cVocabulary(path, maxLength, pieces, [.. scores]);
    }

    /// <summary>This vocabulary as a llama2.c tokenizer file (the layout documented on the type).</summary>
    public byte[] ToFileBytes()
    {
        using var m = new MemoryStream();
        using var w = new BinaryWriter(m);
        w.Write(MaxTokenLength);
        for (int id = 0; id < Pieces.Length; id++)
        {
            var bytes = Encoding.UTF8.GetBytes(Pieces[id]);
            w.Write(Scores[id]); w.Write(bytes.Length); w.Write(bytes);
        }
        w.Flush();
        return m.ToArray();
    }

    private static void CheckLayout(string path, IReadOnlyList<string> pieces, long offset)
    {
        if (pieces.Count < MinimumSize)
            throw Bad(path, "token count", offset, $"{pieces.Count} tokens, at least {MinimumSize} needed (3 special + 256 byte tokens)");
        for (int b = 0; b < 256; b++)
        {
            if (pieces[ByteOffset + b] != BytePiece(b))
                throw Bad(path, $"token {ByteOffset + b}", -1, $"expected byte-fallback piece {BytePiece(b)}, found \"{pieces[ByteOffset + b]}\"");
        }
    }

    private static InvalidDataException Bad(string path, string field, long offset, string problem) =>
        new($"Invalid llama2.c tokenizer file '{path}': field '{field}'{(offset >= 0 ? $" at offset {offset}" : "")}: {problem}.");
}
