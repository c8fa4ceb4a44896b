using Microsoft.ML.Tokenizers;
using QSpec.Tokenization;

namespace QSpec.Core.Tests.Tokenization;

/// <summary>The fast llama2.c encoder against the run.c-style scalar reference.</summary>
public sealed class Llama2cEncoderTests
{
    private static readonly Lazy<Llama2cVocabulary> s_tok512 = new(() => Llama2cVocabulary.Read(TokenizerFiles.Tok512Bin));
    private static readonly Lazy<Llama2cVocabulary> s_llama2 = new(() => Llama2cVocabulary.Read(TokenizerFiles.Llama2Bin));

    public static TheoryData<string> Vocabularies() => ["tok512", "llama2"];

    private static Llama2cVocabulary Vocabulary(string name) => name == "tok512" ? s_tok512.Value : s_llama2.Value;

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Encode_MatchesReference_OnTrickyTexts(string name)
    {
        var vocab = Vocabulary(name);
        var encoder = new Llama2cEncoder(vocab);
        foreach (var text in TokenizerFiles.TrickyTexts)
        {
            foreach (var addBos in new[] { false, true })
            {
                var expected = Llama2cEncodingReference.Encode(vocab, text, addBos);
                var actual = encoder.Encode(text, addBos).Select(t => t.Id).ToList();
                Assert.True(expected.SequenceEqual(actual), $"\"{text}\" bos={addBos}: expected [{string.Join(",", expected)}], got [{string.Join(",", actual)}]");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Encode_MatchesReference_OnParagraphs(string name)
    {
        var vocab = Vocabulary(name);
        var encoder = new Llama2cEncoder(vocab);
        foreach (var text in TokenizerFiles.Paragraphs(20))
            Assert.Equal(Llama2cEncodingReference.Encode(vocab, text, addBos: true), encoder.Encode(text, addBos: true).Select(t => t.Id));
    }

    [Fact]
    public void Reference_BreaksScoreTiesLeftmost_LikeRunC()
    {
        // 259 = "aa" (score -1), 260 = " " (-2), 261 = "a" (-3).
        var tokens = TokenizerFiles.MinimalTokens("aa", " ", "a");
        var vocab = Llama2cVocabulary.Parse(new MemoryStream(TokenizerFiles.Llama2cFile(6, tokens)), "ties.bin");
        // " aaa" is [" ", a, a, a]; the "aa" pairs at 1 and 2 tie: run.c merges the left one -> [" ", aa, a],
        // where the rightmost choice would give [" ", a, aa].
        Assert.Equal([260, 259, 261], Llama2cEncodingReference.Encode(vocab, "aaa", addBos: false));
        Assert.Equal([260, 259, 261], new Llama2cEncoder(vocab).Encode("aaa", addBos: false).Select(t => t.Id));
    }

    [Fact]
    public void MlLlamaTokenizer_BreaksTiesDifferently_WhichIsWhyBinFilesUseTheirOwnEncoder()
    {
        // Documents the library behaviour that rules out feeding a converted .bin to LlamaTokenizer:
        // if a later Microsoft.ML.Tokenizers agrees with run.c here, Llama2cTokenizer could be replaced by it.
        var library = (LlamaTokenizer)TokenizerFiles.Llama2FromModel.Inner;
        var runC = Llama2cEncodingReference.Encode(s_llama2.Value, "aaaa", addBos: true);
        Assert.NotEqual(runC, library.EncodeToIds("aaaa", addBeginningOfSentence: true, addEndOfSentence: false));
    }

    [Fact]
    public void Offsets_CoverTheSourceText()
    {
        var tokenizer = (Llama2cTokenizer)TokenizerFiles.Tok512.Inner;
        const string text = "Once upon a 😀 time";
        var tokens = tokenizer.EncodeToTokens(text, out _);
        Assert.Equal(1, tokens[0].Id);                            // BOS
        Assert.Equal(new Range(0, 0), tokens[0].Offset);
        Assert.Equal(text.Length, tokens[^1].Offset.End.Value);
        Assert.All(tokens.Where(t => t.Id >= Llama2cVocabulary.ByteOffset && t.Id < Llama2cVocabulary.MinimumSize),
                   t => Assert.Equal("😀", text[t.Offset]));
    }

    [Fact]
    public void MaxTokenCount_DoesNotSplitACharactersByteTokens()
    {
        var tokenizer = (Llama2cTokenizer)TokenizerFiles.Tok512.Inner;
        var all = tokenizer.EncodeToIds("a😀");       // BOS, " a", then 4 byte tokens
        Assert.Equal(6, all.Count);
        Assert.Equal([.. all.Skip(1), 2], tokenizer.EncodeToIds("a😀", addBeginningOfSentence: false, addEndOfSentence: true));
        var cut = tokenizer.EncodeToIds("a😀", maxTokenCount: 4, out _, out int consumed);
        Assert.Equal(all.Take(2), cut);
        Assert.Equal(1, consumed);
    }
}
