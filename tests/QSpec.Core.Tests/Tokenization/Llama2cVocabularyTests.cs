using System.Buffers.Binary;
using System.Text;
using QSpec.Tokenization;

namespace QSpec.Core.Tests.Tokenization;

public sealed class Llama2cVocabularyTests
{
    private const string Name = "bad-tok.bin";

    [Fact]
    public void Tok512_HasTheDocumentedLayout()
    {
        var vocab = Llama2cVocabulary.Read(TokenizerFiles.Tok512Bin);
        Assert.Equal(7, vocab.MaxTokenLength);
        Assert.Equal(512, vocab.Pieces.Length);
        Assert.Equal("\n<s>\n", vocab.Pieces[1]);
        Assert.Equal("\n</s>\n", vocab.Pieces[2]);
        Assert.Equal("<0x00>", vocab.Pieces[3]);
        Assert.Equal("<0xFF>", vocab.Pieces[258]);
        Assert.Equal(" Once", vocab.Pieces[403]);
    }

    [Fact]
    public void Llama2Bin_Has32000Tokens()
    {
        var vocab = Llama2cVocabulary.Read(TokenizerFiles.Llama2Bin);
        Assert.Equal(27, vocab.MaxTokenLength);
        Assert.Equal(32000, vocab.Pieces.Length);
    }

    [Fact]
    public void MinimalFile_Parses()
    {
        var vocab = Llama2cVocabulary.Parse(new MemoryStream(TokenizerFiles.Llama2cFile(6, TokenizerFiles.MinimalTokens("ab"))), Name);
        Assert.Equal(260, vocab.Pieces.Length);
        Assert.Equal("ab", vocab.Pieces[259]);
        Assert.Equal(-1f, vocab.Scores[259]);
    }

    public static TheoryData<string, byte[]> MalformedFiles()
    {
        var valid = TokenizerFiles.Llama2cFile(6, TokenizerFiles.MinimalTokens("ab"));
        var data = new TheoryData<string, byte[]>
        {
            { "max_token_length", [1, 0] },
            { "max_token_length", Header(-5) },
            { "max_token_length", Header(int.MaxValue) },
            { "token 259 header", valid[..^5] },              // cut inside the last entry's score/length
            { "token 259 bytes", valid[..^1] },               // cut inside the last entry's bytes
            { "token count", TokenizerFiles.Llama2cFile(6, TokenizerFiles.MinimalTokens().Take(200)) },
            { "token 10", TokenizerFiles.Llama2cFile(6, TokenizerFiles.MinimalTokens().Select((t, i) => i == 10 ? (0f, "<0xZZ>"u8.ToArray()) : t)) },
            { "token 259 bytes", TokenizerFiles.Llama2cFile(6, [.. TokenizerFiles.MinimalTokens(), (0f, [0xFF, 0xFE])]) },
            { "token 259 score", TokenizerFiles.Llama2cFile(6, [.. TokenizerFiles.MinimalTokens(), (float.NaN, "ab"u8.ToArray())]) },
        };
        data.Add("token 259 length", WithLength(valid, -3));
        data.Add("token 259 length", WithLength(valid, 0));
        data.Add("token 259 length", WithLength(valid, 7));            // above max_token_length = 6
        data.Add("token 259 length", WithLength(valid, int.MaxValue)); // must not allocate 2 GB
        return data;

        static byte[] Header(int value) { var h = new byte[4]; BinaryPrimitives.WriteInt32LittleEndian(h, value); return h; }
        static byte[] WithLength(byte[] file, int length)
        {
            var copy = (byte[])file.Clone();
            BinaryPrimitives.WriteInt32LittleEndian(copy.AsSpan(copy.Length - 2 - 4), length); // last entry: "ab"
            return copy;
        }
    }

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void MalformedFile_ThrowsInvalidData_NamingFileAndField(string field, byte[] bytes)
    {
        var e = Assert.Throws<InvalidDataException>(() => Llama2cVocabulary.Parse(new MemoryStream(bytes), Name));
        Assert.Contains(Name, e.Message);
        Assert.Contains($"'{field}'", e.Message);
    }

    [Fact]
    public void TruncatedTok512_ThroughLoad_ThrowsInvalidData_NamingTheFile()
    {
        var bytes = File.ReadAllBytes(TokenizerFiles.Tok512Bin);
        var path = TokenizerFiles.WriteTemp(bytes[..(bytes.Length / 2)]);
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => LlamaTextTokenizer.Load(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("truncated", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ModelCheckpoint_GivenAsTokenizer_ThrowsInvalidData()
    {
        var model = SharedData.DefaultModel;
        var e = Assert.Throws<InvalidDataException>(() => LlamaTextTokenizer.Load(model));
        Assert.Contains(model, e.Message);
    }

    [Fact]
    public void BytePiece_ParsesOnlyTheExactForm()
    {
        Assert.True(TokenPieceTable.TryParseBytePiece("<0x0A>", out byte b));
        Assert.Equal(0x0A, b);
        Assert.False(TokenPieceTable.TryParseBytePiece("<0x0A>x", out _));
        Assert.False(TokenPieceTable.TryParseBytePiece("<0xG0>", out _));
        Assert.False(TokenPieceTable.TryParseBytePiece(Encoding.UTF8.GetString("<0x+A>"u8), out _));
    }
}
