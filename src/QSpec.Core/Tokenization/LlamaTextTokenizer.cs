using Microsoft.ML.Tokenizers;

namespace QSpec.Tokenization;

/// <summary>
/// The tokenizer of a Llama model, from a SentencePiece <c>tokenizer.model</c> (run by Microsoft.ML.Tokenizers'
/// <see cref="LlamaTokenizer"/>) or a llama2.c <c>tok*.bin</c> file (run by <see cref="Llama2cTokenizer"/>).
/// Decoding is llama2.c's for both: byte-fallback tokens print as raw bytes, BOS/EOS print nothing,
/// and the piece at the start of a sequence or after BOS loses its leading space. Immutable and thread-safe.
/// </summary>
public sealed class LlamaTextTokenizer
{
    private readonly string _path;
    private readonly TokenPieceTable _table;
    private readonly Func<string, bool, IReadOnlyList<int>> _encode;

    private LlamaTextTokenizer(string path, Tokenizer inner, TokenPieceTable table, Func<string, bool, IReadOnlyList<int>> encode)
    {
        _path = path; Inner = inner; _table = table; _encode = encode;
    }

    /// <summary>
    /// Loads <paramref name="path"/>: a <c>.model</c> file as SentencePiece, a <c>.bin</c> file as llama2.c; any other
    /// extension by content (a llama2.c file starts with a small little-endian int32, so bytes 1..3 are zero;
    /// a SentencePiece proto starts with a length-prefixed piece, whose length byte is not).
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the field.</exception>
    public static LlamaTextTokenizer Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Tokenizer file not found: {path}", path);
        return IsSentencePiece(path) ? LoadSentencePiece(path) : LoadLlama2c(path);
    }

    /// <summary>The Microsoft.ML.Tokenizers object doing the work (<see cref="LlamaTokenizer"/> or <see cref="Llama2cTokenizer"/>),
    /// configured to add BOS and not EOS.</summary>
    public Tokenizer Inner { get; }
    /// <summary>Number of token ids (ids are 0..VocabularySize-1).</summary>
    public int VocabularySize => _table.Count;
    /// <summary>The begin-of-sequence id.</summary>
    public int BosId => _table.BosId;
    /// <summary>The end-of-sequence id.</summary>
    public int EosId => _table.EosId;

    /// <summary>Encodes <paramref name="text"/>, with BOS first when <paramref name="addBos"/>. Never adds EOS.
    /// An empty text gives no tokens but BOS.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    public IReadOnlyList<int> Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        // The library returns nothing, not even BOS, for an empty text; llama2.c returns BOS alone.
        if (text.Length == 0) return addBos ? [BosId] : [];
        return _encode(text, addBos);
    }

    /// <summary>Decodes llama2.c style (see the class remarks); invalid UTF-8 becomes U+FFFD.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in 0..VocabularySize-1.</exception>
    public string Decode(IEnumerable<int> ids) => Llama2cTokenizer.DecodeWith(_table, ids);

    /// <summary>A decoder for streaming output id by id; see <see cref="TokenDecoder"/>.</summary>
    public TokenDecoder CreateStreamingDecoder() => new(_table);

    /// <summary>Checks that this tokenizer fits a model whose embedding has <paramref name="modelVocabSize"/> rows.</summary>
    /// <exception cref="InvalidDataException">The sizes differ.</exception>
    public void EnsureVocabularySize(int modelVocabSize)
    {
        if (modelVocabSize != VocabularySize)
            throw new InvalidDataException(
                $"Tokenizer '{_path}' has {VocabularySize} tokens but the model's vocab_size is {modelVocabSize}; they must be equal.");
    }

    private static bool IsSentencePiece(string path)
    {
        var extension = Path.GetExtension(path);
        if (extension.Equals(".model", StringComparison.OrdinalIgnoreCase)) return true;
        if (extension.Equals(".bin", StringComparison.OrdinalIgnoreCase)) return false;
        Span<byte> head = stackalloc byte[4];
        using var stream = File.OpenRead(path);
        int read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return !(read == 4 && head[1] == 0 && head[2] == 0 && head[3] == 0);
    }

    private static LlamaTextTokenizer LoadLlama2c(string path)
    {
        var inner = Llama2cTokenizer.Create(path, addBeginningOfSentence: true);
        return new LlamaTextTokenizer(path, inner, inner.Pieces, (text, addBos) => inner.EncodeToIds(text, addBos, addEndOfSentence: false));
    }

    private static LlamaTextTokenizer LoadSentencePiece(string path)
    {
        LlamaTokenizer inner;
        using var stream = File.OpenRead(path); // file-system errors propagate as they are
        try
        {
            inner = LlamaTokenizer.Create(stream, addBeginOfSentence: true, addEndOfSentence: false);
        }
        catch (Exception e) // the library throws protobuf, argument and format exceptions for bad content
        {
            throw new InvalidDataException($"Invalid SentencePiece model file '{path}': field 'ModelProto' could not be read ({e.Message}).", e);
        }

        // Ids must be dense 0..n-1 for the decode table and for EnsureVocabularySize.
        var pieces = new string?[inner.Vocabulary.Count];
        foreach (var (piece, id) in inner.Vocabulary)
        {
            if ((uint)id >= (uint)pieces.Length)
                throw new InvalidDataException($"Invalid SentencePiece model file '{path}': field 'pieces': id {id} of \"{piece}\" is not in 0..{pieces.Length - 1}.");
            pieces[id] = piece;
        }
        var table = new TokenPieceTable(pieces, inner.BeginningOfSentenceId, inner.EndOfSentenceId);
        return new LlamaTextTokenizer(path, inner, table,
            (text, addBos) => inner.EncodeToIds(text, addBos, addEndOfSentence: false));
    }
}
