using System.Buffers;
using System.Text;
using QSpec.Tokenization;

namespace QSpec.Core.Tests.Tokenization;

public sealed class TokenDecoderTests
{
    private static bool IsByteToken(int id) => id >= Llama2cVocabulary.ByteOffset && id < Llama2cVocabulary.MinimumSize;

    [Theory]
    [InlineData("héllo 😀")]
    [InlineData("a 中文 b 😀😀 ü")]
    public void Streaming_SplitMultiByteCharacters_EqualsDecode(string text)
    {
        var tok = TokenizerFiles.Tok512;
        var ids = tok.Encode(text, addBos: true);
        Assert.True(ids.Count(IsByteToken) >= 4, "the text must need byte fallback for this test to mean anything");

        var decoder = tok.CreateStreamingDecoder();
        var streamed = new StringBuilder();
        foreach (int id in ids)
        {
            var piece = decoder.Append(id);
            Assert.DoesNotContain('\uFFFD', piece);             // never half a character
            Assert.False(piece.Length > 0 && char.IsHighSurrogate(piece[^1]), $"piece ends in a high surrogate: {piece}");
            streamed.Append(piece);
        }
        streamed.Append(decoder.Flush());
        Assert.Equal(tok.Decode(ids), streamed.ToString());
        Assert.Equal(text, streamed.ToString());
    }

    [Fact]
    public void Streaming_HoldsBackAnIncompleteCharacter_UntilItsLastByte()
    {
        var tok = TokenizerFiles.Tok512;
        var decoder = tok.CreateStreamingDecoder();
        byte[] emoji = Encoding.UTF8.GetBytes("😀");
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal("", decoder.Append(Llama2cVocabulary.ByteOffset + emoji[i]));
            Assert.True(decoder.HasPendingBytes);
        }
        Assert.Equal("😀", decoder.Append(Llama2cVocabulary.ByteOffset + emoji[3]));
        Assert.False(decoder.HasPendingBytes);
    }

    [Fact]
    public void Flush_EmitsReplacementForATruncatedCharacter_AsDecodeDoes()
    {
        var tok = TokenizerFiles.Tok512;
        int[] ids = [Llama2cVocabulary.ByteOffset + 0xF0, Llama2cVocabulary.ByteOffset + 0x9F, Llama2cVocabulary.ByteOffset + 'a'];
        var decoder = tok.CreateStreamingDecoder();
        var streamed = string.Concat(ids.Select(decoder.Append)) + decoder.Flush();
        Assert.Equal(Encoding.UTF8.GetString([0xF0, 0x9F, (byte)'a']), streamed);
        Assert.Equal(streamed, tok.Decode(ids));

        var open = tok.CreateStreamingDecoder();
        Assert.Equal("", open.Append(Llama2cVocabulary.ByteOffset + 0xE4));
        Assert.Equal("\uFFFD", open.Flush());
    }

    [Theory]
    [InlineData(new byte[] { 0x61 }, 0)]
    [InlineData(new byte[] { 0x61, 0xE4 }, 1)]
    [InlineData(new byte[] { 0xE4, 0xB8 }, 2)]
    [InlineData(new byte[] { 0xE4, 0xB8, 0xAD }, 0)]
    [InlineData(new byte[] { 0xF0, 0x9F, 0x98 }, 3)]
    [InlineData(new byte[] { 0x80, 0x80 }, 0)]
    [InlineData(new byte[] { 0xC3 }, 1)]
    public void IncompleteTailLength_CountsTheUnfinishedCharacter(byte[] bytes, int expected) =>
        Assert.Equal(expected, TokenDecoder.IncompleteTailLength(bytes));

    [Fact]
    public void InnerDecodeToSpan_ReportsTooSmall_AndResumes()
    {
        var inner = TokenizerFiles.Tok512.Inner;
        var ids = TokenizerFiles.Tok512.Encode("Once upon a time 😀", addBos: true);
        var whole = inner.Decode(ids);
        Assert.Equal("Once upon a time 😀", whole);

        var small = new char[8];
        Assert.Equal(OperationStatus.DestinationTooSmall, inner.Decode(ids, small, out int consumed, out int written));
        Assert.True(consumed > 0 && written <= small.Length);
        Assert.Equal(whole[..written], new string(small, 0, written));

        var big = new char[64];
        Assert.Equal(OperationStatus.Done, inner.Decode(ids, big, out consumed, out written));
        Assert.Equal((ids.Count, whole), (consumed, new string(big, 0, written)));
    }
}
