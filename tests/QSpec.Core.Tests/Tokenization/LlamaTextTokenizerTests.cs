using System.Text.Json;
using QSpec.Tokenization;

namespace QSpec.Core.Tests.Tokenization;

public sealed class LlamaTextTokenizerTests
{
    [Fact]
    public void Llama2Bin_EncodesLikeTokenizerModel_On200Paragraphs()
    {
        var bin = TokenizerFiles.Llama2FromBin;
        var model = TokenizerFiles.Llama2FromModel;
        Assert.IsType<Llama2cTokenizer>(bin.Inner);
        Assert.IsType<Microsoft.ML.Tokenizers.LlamaTokenizer>(model.Inner);
        int tokens = 0;
        foreach (var paragraph in TokenizerFiles.Paragraphs(200))
        {
            var expected = model.Encode(paragraph, addBos: true);
            Assert.Equal(expected, bin.Encode(paragraph, addBos: true));
            tokens += expected.Count;
        }
        Assert.True(tokens > 200 * 20, $"only {tokens} tokens: the paragraphs are not what this test expects");
    }

    [Fact]
    public void Llama2_BinAndModel_AgreeOnSizesAndSpecialIds()
    {
        var bin = TokenizerFiles.Llama2FromBin;
        var model = TokenizerFiles.Llama2FromModel;
        Assert.Equal(32000, bin.VocabularySize);
        Assert.Equal(32000, model.VocabularySize);
        Assert.Equal((1, 2), (bin.BosId, bin.EosId));
        Assert.Equal((1, 2), (model.BosId, model.EosId));
    }

    [Fact]
    public void Tok512_DecodesExpectedGreedyIds_ToExpectedGreedyText()
    {
        var folder = SharedData.PathOf("models", "stories260K");
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "expected_greedy.json")));
        var ids = json.RootElement.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var expected = File.ReadAllText(Path.Combine(folder, "expected_greedy.txt"));
        Assert.EndsWith("\n", expected);
        Assert.Equal(256, ids.Length);
        Assert.Equal(expected[..^1], TokenizerFiles.Tok512.Decode(ids));
    }

    [Theory]
    [InlineData("tok512")]
    [InlineData("llama2-bin")]
    [InlineData("llama2-model")]
    public void EncodeThenDecode_RoundTrips(string which)
    {
        var tokenizer = which switch
        {
            "tok512" => TokenizerFiles.Tok512,
            "llama2-bin" => TokenizerFiles.Llama2FromBin,
            _ => TokenizerFiles.Llama2FromModel,
        };
        foreach (var text in TokenizerFiles.Paragraphs(30).Concat(["héllo 😀 中文", "  two leading spaces", "x"]))
        {
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addBos: true)));
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addBos: false)));
        }
    }

    [Fact]
    public void Decode_DropsTheLeadingSpaceOnlyAtStartAndAfterBos()
    {
        var tok = TokenizerFiles.Tok512;
        int once = tok.Encode("Once", addBos: false).Single();     // " Once" (403)
        Assert.Equal("Once Once", tok.Decode([once, once]));
        Assert.Equal("Once OnceOnce", tok.Decode([tok.BosId, once, once, tok.BosId, once, tok.EosId]));
    }

    [Fact]
    public void Encode_EmptyText_GivesOnlyBos()
    {
        foreach (var tok in new[] { TokenizerFiles.Tok512, TokenizerFiles.Llama2FromModel })
        {
            Assert.Equal([tok.BosId], tok.Encode("", addBos: true));
            Assert.Empty(tok.Encode("", addBos: false));
        }
    }

    [Fact]
    public void Load_MissingFile_ThrowsFileNotFound()
    {
        var path = Path.Combine(Path.GetTempPath(), $"qspec-missing-{Guid.NewGuid():N}.bin");
        var e = Assert.Throws<FileNotFoundException>(() => LlamaTextTokenizer.Load(path));
        Assert.Equal(path, e.FileName);
    }

    [Theory]
    [InlineData(".tokenizer")]
    [InlineData("")]
    public void Load_UnknownExtension_DispatchesOnContent(string extension)
    {
        var binPath = TokenizerFiles.WriteTemp(File.ReadAllBytes(TokenizerFiles.Tok512Bin), extension);
        var modelPath = TokenizerFiles.WriteTemp(File.ReadAllBytes(TokenizerFiles.Llama2Model), extension);
        try
        {
            Assert.IsType<Llama2cTokenizer>(LlamaTextTokenizer.Load(binPath).Inner);
            Assert.IsType<Microsoft.ML.Tokenizers.LlamaTokenizer>(LlamaTextTokenizer.Load(modelPath).Inner);
        }
        finally { File.Delete(binPath); File.Delete(modelPath); }
    }

    [Fact]
    public void Load_GarbageModelFile_ThrowsInvalidData_NamingTheFile()
    {
        var path = TokenizerFiles.WriteTemp([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2, 3], ".model");
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => LlamaTextTokenizer.Load(path));
            Assert.Contains(path, e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void EnsureVocabularySize_Mismatch_ThrowsInvalidData_WithBothNumbers()
    {
        var tok = TokenizerFiles.Tok512;
        tok.EnsureVocabularySize(512);
        var e = Assert.Throws<InvalidDataException>(() => tok.EnsureVocabularySize(32000));
        Assert.Contains("512", e.Message);
        Assert.Contains("32000", e.Message);
    }

    [Fact]
    public void Decode_IdOutOfRange_ThrowsArgumentOutOfRange()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => TokenizerFiles.Tok512.Decode([5, 512]));
        Assert.Equal(512, e.ActualValue);
    }
}
