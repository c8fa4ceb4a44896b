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

    private LlamaTextTokenizer(string path, Tokenizer inner, TokenPieceTable table, Func<string, bool, IReadOnlyList<int>> encode, byte[] sourceBytes)
    {
        _path = path; Inner = inner; _table = table; _encode = encode; SourceBytes = sourceBytes;
    }

    /// <summary>The tokenizer as file bytes (what was loaded, or a llama2.c tokenizer file for a GGUF vocabulary), to embed in a .qspec file.</summary>
    internal byte[] SourceBytes { get; }

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
        using var stream = new MemoryStream(File.ReadAllBytes(path), writable: false);
        var extension = Path.GetExtension(path);
        bool sentencePiece = extension.Equals(".model", StringComparison.OrdinalIgnoreCase) ? true
            : extension.Equals(".bin", StringComparison.OrdinalIgnoreCase) ? false
            : IsSentencePiece(stream);
        return sentencePiece ? LoadSentencePiece(stream, path) : LoadLlama2c(stream, path);
    }

    /// <summary>
    /// Loads a tokenizer file's contents from <paramref name="stream"/> (read to its end; it need not be seekable),
    /// recognised by content as in <see cref="Load(string)"/>: a llama2.c tokenizer or a SentencePiece model proto.
    /// </summary>
    /// <param name="name">Names the source in messages (a file name, "embedded in model.qspec", ...).</param>
    /// <exception cref="InvalidDataException">The contents are malformed; the message names <paramref name="name"/> and the field.</exception>
    public static LlamaTextTokenizer Load(Stream stream, string name = "stream")
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        var copy = new MemoryStream();
        stream.CopyTo(copy);
        copy.Position = 0;
        return IsSentencePiece(copy) ? LoadSentencePiece(copy, name) : LoadLlama2c(copy, name);
    }

    /// <summary>Loads a tokenizer file's bytes (see <see cref="Load(Stream, string)"/>).</summary>
    public static LlamaTextTokenizer FromBytes(byte[] bytes, string name = "bytes")
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return Load(new MemoryStream(bytes, writable: false), name);
    }

    /// <summary>
    /// A llama2.c-rule tokenizer over an SPM vocabulary given piece by piece (GGUF <c>tokenizer.ggml.*</c>), whose layout
    /// must be llama2.c's: unknown 0, BOS 1, EOS 2, byte tokens 3..258. Pieces use "▁" for a space.
    /// </summary>
    internal static LlamaTextTokenizer FromPieces(string name, IReadOnlyList<string> pieces, IReadOnlyList<float> scores)
    {
        var vocabulary = Llama2cVocabulary.FromPieces(name, pieces, scores);
        return Wrap(name, new Llama2cTokenizer(vocabulary, addBeginningOfSentence: true), vocabulary.ToFileBytes());
    }

    /// <summary>
    /// The vocabulary as SentencePiece pieces ("▁" for a space, "&lt;s&gt;"/"&lt;/s&gt;" for BOS/EOS), scores and token types
    /// (SentencePiece's and GGUF's numbering: 1 normal, 2 unknown, 3 control, 6 byte), for writing GGUF <c>tokenizer.ggml.*</c>.
    /// </summary>
    internal (string[] Pieces, float[] Scores, int[] Types) SentencePieceVocabulary()
    {
        if (Inner is Llama2cTokenizer l)
        {
            var v = l.Vocabulary;
            var pieces = new string[v.Pieces.Length];
            var types = new int[pieces.Length];
            for (int id = 0; id < pieces.Length; id++)
            {
                pieces[id] = id == BosId ? "<s>" : id == EosId ? "</s>" : v.Pieces[id].Replace(' ', '\u2581');
                types[id] = id == Llama2cVocabulary.UnknownId ? 2 : id == BosId || id == EosId ? 3
                    : id >= Llama2cVocabulary.ByteOffset && id < Llama2cVocabulary.ByteOffset + 256 ? 6 : 1;
            }
            return (pieces, [.. v.Scores], types);
        }
        return SentencePieceProto.ReadPieces(SourceBytes, _path);
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

    /// <summary>Peeks at the first 4 bytes of a seekable stream and rewinds it.</summary>
    private static bool IsSentencePiece(Stream stream)
    {
        Span<byte> head = stackalloc byte[4];
        long start = stream.Position;
        int read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        stream.Position = start;
        return !(read == 4 && head[1] == 0 && head[2] == 0 && head[3] == 0);
    }

    private static LlamaTextTokenizer LoadLlama2c(MemoryStream stream, string path)
        => Wrap(path, new Llama2cTokenizer(Llama2cVocabulary.Parse(stream, path), addBeginningOfSentence: true), stream.ToArray());

    private static LlamaTextTokenizer Wrap(string path, Llama2cTokenizer inner, byte[] sourceBytes)
        => new(path, inner, inner.Pieces, (text, addBos) => inner.EncodeToIds(text, addBos, addEndOfSentence: false), sourceBytes);

    private static LlamaTextTokenizer LoadSentencePiece(MemoryStream stream, string path)
    {
        LlamaTokenizer inner;
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
            (text, addBos) => inner.EncodeToIds(text, addBos, addEndOfSentence: false), stream.ToArray());
    }
}
