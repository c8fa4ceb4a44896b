using QSpec.Tokenization;

namespace QSpec.Core.Tests.Tokenization;

/// <summary>Tokenizers loaded from a Stream or bytes (the .qspec-embedded and GGUF cases) equal the ones loaded from the file.</summary>
public class TokenizerStreamTests
{
    /// <summary>A stream that cannot seek, as a network or zip entry stream.</summary>
    private sealed class ForwardOnly(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => base.Position; set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin loc) => throw new NotSupportedException();
    }

    [Theory]
    [InlineData("tok512")]
    [InlineData("llama2-model")]
    [InlineData("llama2-bin")]
    public void StreamAndBytesLoadTheSameTokenizerAsTheFile(string which)
    {
        var path = which switch { "tok512" => TokenizerFiles.Tok512Bin, "llama2-model" => TokenizerFiles.Llama2Model, _ => TokenizerFiles.Llama2Bin };
        var fromFile = LlamaTextTokenizer.Load(path);
        var bytes = File.ReadAllBytes(path);
        var fromStream = LlamaTextTokenizer.Load(new ForwardOnly(bytes), "a stream");
        var fromBytes = LlamaTextTokenizer.FromBytes(bytes, "some bytes");
        Assert.Equal(bytes, fromStream.SourceBytes);
        foreach (var text in TokenizerFiles.Paragraphs(20).Concat(TokenizerFiles.TrickyTexts))
        {
            var ids = fromFile.Encode(text, addBos: true);
            Assert.Equal(ids, fromStream.Encode(text, addBos: true));
            Assert.Equal(ids, fromBytes.Encode(text, addBos: true));
            Assert.Equal(fromFile.Decode(ids), fromBytes.Decode(ids));
        }
    }

    [Fact]
    public void MalformedBytesNameTheSource()
    {
        var e = Assert.Throws<InvalidDataException>(() => LlamaTextTokenizer.FromBytes([7, 0, 0, 0, 1, 2], "the tokenizer embedded in m.qspec"));
        Assert.Contains("the tokenizer embedded in m.qspec", e.Message);
    }

    [Fact]
    public void SentencePieceProtoPiecesMatchTheLlama2cFile()
    {
        var (pieces, scores, types) = SentencePieceProto.ReadPieces(File.ReadAllBytes(TokenizerFiles.Llama2Model), "tokenizer.model");
        var (binPieces, binScores, binTypes) = TokenizerFiles.Llama2FromBin.SentencePieceVocabulary();
        Assert.Equal(32000, pieces.Length);
        Assert.Equal(binPieces[3..], pieces[3..]);
        Assert.Equal(binScores, scores);
        Assert.Equal(binTypes, types);
    }
}
