using System.Buffers;
using Microsoft.ML.Tokenizers;

namespace QSpec.Tokenization;

/// <summary>
/// A llama2.c tokenizer file (<c>tokenizer.bin</c>, <c>tok512.bin</c>) as a Microsoft.ML.Tokenizers <see cref="Tokenizer"/>,
/// encoding exactly as llama2.c's <c>run.c</c> does.
/// </summary>
/// <remarks>
/// Why not a SentencePiece model proto fed to <see cref="LlamaTokenizer"/>: Microsoft.ML.Tokenizers 2.0.1's SentencePiece BPE
/// breaks ties between equal-score merges at the rightmost pair, while run.c (and SentencePiece itself) take the leftmost,
/// so repeated letters differ: with the Llama 2 vocabulary "aaaa" is [▁a, aa, a] in llama2.c and [▁aa, aa] in the library.
/// It also treats a literal "▁" in the text as a space, which run.c does not. So the rule is implemented here, behind the
/// library's abstraction. Offsets: the dummy-prefix space and BOS cover an empty range at 0; byte-fallback tokens each
/// cover the whole character they came from.
/// </remarks>
public sealed class Llama2cTokenizer : Tokenizer
{
    private readonly Llama2cEncoder _encoder;
    private readonly TokenPieceTable _table;

    internal Llama2cTokenizer(Llama2cVocabulary vocabulary, bool addBeginningOfSentence)
    {
        _encoder = new Llama2cEncoder(vocabulary);
        _table = new TokenPieceTable(vocabulary.Pieces, Llama2cVocabulary.BosId, Llama2cVocabulary.EosId);
        AddBeginningOfSentence = addBeginningOfSentence;
    }

    /// <summary>Reads a llama2.c tokenizer file.</summary>
    /// <param name="addBeginningOfSentence">Whether the <see cref="Tokenizer"/> encode methods put BOS first (default true, as LlamaTokenizer.Create).</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the field.</exception>
    public static Llama2cTokenizer Create(string path, bool addBeginningOfSentence = true) =>
        new(Llama2cVocabulary.Read(path), addBeginningOfSentence);

    /// <summary>Whether the <see cref="Tokenizer"/> encode methods put BOS first.</summary>
    public bool AddBeginningOfSentence { get; }

    /// <summary>Number of token ids.</summary>
    public int VocabularySize => _table.Count;

    internal TokenPieceTable Pieces => _table;

    internal Llama2cVocabulary Vocabulary => _encoder.Vocabulary;

    /// <summary>Encodes with explicit BOS/EOS choices, as <see cref="SentencePieceTokenizer"/>'s overload of the same shape
    /// (the <see cref="Tokenizer"/> methods use <see cref="AddBeginningOfSentence"/> and never add EOS).</summary>
    /// <param name="considerPreTokenization">Ignored: there is no pre-tokenizer (kept for the library's overload shape).</param>
    /// <param name="considerNormalization">Ignored: there is no normalizer.</param>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    public IReadOnlyList<int> EncodeToIds(string text, bool addBeginningOfSentence, bool addEndOfSentence,
                                          bool considerPreTokenization = true, bool considerNormalization = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = _encoder.Encode(text, addBeginningOfSentence);
        var ids = new int[tokens.Count + (addEndOfSentence ? 1 : 0)];
        for (int i = 0; i < tokens.Count; i++) ids[i] = tokens[i].Id;
        if (addEndOfSentence) ids[^1] = Llama2cVocabulary.EosId;
        return ids;
    }

    /// <inheritdoc/>
    /// <remarks>There is no normalization or pre-tokenization to skip; <see cref="EncodeSettings.MaxTokenCount"/> cuts
    /// before a character whose byte tokens would not all fit.</remarks>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        if (settings.MaxTokenCount <= 0)
            throw new ArgumentOutOfRangeException(nameof(settings), settings.MaxTokenCount, "MaxTokenCount must be positive.");
        var span = text is null ? textSpan : text.AsSpan();
        var tokens = _encoder.Encode(span, AddBeginningOfSentence);
        int count = tokens.Count;
        if (count > settings.MaxTokenCount)
        {
            count = settings.MaxTokenCount;
            // Byte tokens of one character share a range: do not keep part of one.
            while (count > 0 && tokens[count].Start == tokens[count - 1].Start && tokens[count].End == tokens[count - 1].End && tokens[count].End > tokens[count].Start)
                count--;
        }
        var result = new List<EncodedToken>(count);
        for (int i = 0; i < count; i++)
        {
            var t = tokens[i];
            result.Add(new EncodedToken(t.Id, _encoder.Vocabulary.Pieces[t.Id], new Range(t.Start, t.End)));
        }
        return new EncodeResults<EncodedToken>
        {
            Tokens = result,
            NormalizedText = null,
            CharsConsumed = count == tokens.Count ? span.Length : count == 0 ? 0 : tokens[count - 1].End,
        };
    }

    /// <summary>Decodes llama2.c style: see <see cref="LlamaTextTokenizer.Decode"/>.</summary>
    public override string Decode(IEnumerable<int> ids) => DecodeWith(_table, ids);

    /// <inheritdoc/>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var decoder = new TokenDecoder(_table);
        int seen = 0, written = 0;
        idsConsumed = 0; charsWritten = 0;
        foreach (int id in ids)
        {
            var text = decoder.Append(id);
            seen++;
            if (written + text.Length > destination.Length) return OperationStatus.DestinationTooSmall;
            text.CopyTo(destination[written..]);
            written += text.Length;
            // Report only ids whose bytes are fully printed, so a caller can resume from idsConsumed.
            if (!decoder.HasPendingBytes) { idsConsumed = seen; charsWritten = written; }
        }
        var tail = decoder.Flush();
        if (written + tail.Length > destination.Length) return OperationStatus.DestinationTooSmall;
        tail.CopyTo(destination[written..]);
        idsConsumed = seen; charsWritten = written + tail.Length;
        return OperationStatus.Done;
    }

    internal static string DecodeWith(TokenPieceTable table, IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var decoder = new TokenDecoder(table);
        var text = new System.Text.StringBuilder();
        foreach (int id in ids) text.Append(decoder.Append(id));
        return text.Append(decoder.Flush()).ToString();
    }
}
