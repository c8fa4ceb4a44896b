using System.Buffers.Binary;
using System.Diagnostics;
using QSpec.Core.Tests.Tokenization;
using QSpec.Tokenization;

namespace QSpec.Core.Tests.Fuzzing;

/// <summary>
/// Seeded mutants of tok512.bin (llama2.c) and of a SentencePiece tokenizer.model cut to its first 600 pieces
/// (the 500 KB Llama 2 model takes too long per case): loading throws only documented exceptions, and a tokenizer
/// that loads also encodes and decodes without throwing.
/// </summary>
public sealed class TokenizerFuzzTests
{
    private const string Text = "Once upon a time, héllo 😀 \u2581x <0x41> \n\n ok";

    private static readonly Lazy<FileMutator> s_llama2c = new(() =>
    {
        var bytes = File.ReadAllBytes(TokenizerFiles.Tok512Bin);
        // Header fields: max_token_length, then (score, length) of the first 300 tokens and of the last one.
        var fields = new List<FuzzField> { new("max_token_length", 0) };
        int offset = 4;
        for (int id = 0; offset + 8 <= bytes.Length; id++)
        {
            if (id < 300 || offset + 8 + BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset + 4)) >= bytes.Length)
            {
                fields.Add(new($"token {id} score", offset));
                fields.Add(new($"token {id} length", offset + 4));
            }
            offset += 8 + BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset + 4));
        }
        return new FileMutator(bytes, seed: 512, fields, headerBytes: 4096);
    });

    private static readonly Lazy<FileMutator> s_sentencePiece = new(() =>
        new FileMutator(SentencePieceModels.FirstPieces(File.ReadAllBytes(TokenizerFiles.Llama2Model), 600), seed: 32000, headerBytes: 2048));

    public static TheoryData<Mutation> Llama2cFamilies => FuzzHarness.FamiliesOf(s_llama2c.Value);
    public static TheoryData<Mutation> SentencePieceFamilies => FuzzHarness.FamiliesOf(s_sentencePiece.Value);

    [Theory]
    [MemberData(nameof(Llama2cFamilies))]
    public void Llama2cTokenizerMutantsThrowOnlyDocumentedExceptions(Mutation family) =>
        FuzzHarness.Run(s_llama2c.Value, family, FileMutator.CaseCount(), ".bin", LoadAndUse);

    [Theory]
    [MemberData(nameof(SentencePieceFamilies))]
    public void SentencePieceMutantsThrowOnlyDocumentedExceptions(Mutation family) =>
        FuzzHarness.Run(s_sentencePiece.Value, family, FileMutator.CaseCount(), ".model", LoadAndUse);

    [Fact]
    public void TheCutSentencePieceModelLoadsAndEncodesLikeTheFullOne()
    {
        var path = TokenizerFiles.WriteTemp(s_sentencePiece.Value.Original.ToArray(), ".model");
        try
        {
            var cut = LlamaTextTokenizer.Load(path);
            Assert.Equal(600, cut.VocabularySize);
            // Ids below 600 mean the same in both; "a b" uses only such pieces.
            Assert.Equal(TokenizerFiles.Llama2FromModel.Encode("a b", addBos: true), cut.Encode("a b", addBos: true));
        }
        finally { File.Delete(path); }
    }

    /// <summary>Complexity guard: building the merge table was quadratic in a token's length (17 s for this file).</summary>
    [Fact]
    public void OneHugeTokenBuildsQuickly()
    {
        var huge = new string('a', 400_000);
        var tokens = TokenizerFiles.MinimalTokens("a", "aa", "aaaa", huge); // ids 259..262
        var path = TokenizerFiles.WriteTemp(TokenizerFiles.Llama2cFile(huge.Length, tokens));
        try
        {
            var clock = Stopwatch.StartNew();
            var tokenizer = LlamaTextTokenizer.Load(path);
            clock.Stop();
            Assert.True(clock.Elapsed < 5 * FuzzHarness.MaxCaseTime, $"building took {clock.Elapsed.TotalSeconds:F1} s");
            // Merges still work: a a a a → aa a a → aa aa → aaaa (id 261); the dummy-prefix space falls back to its byte.
            Assert.Equal([1, 3 + (byte)' ', 261], tokenizer.Encode("aaaa", addBos: true));
        }
        finally { File.Delete(path); }
    }

    private static void LoadAndUse(string path)
    {
        var tokenizer = LlamaTextTokenizer.Load(path);
        var ids = tokenizer.Encode(Text, addBos: true);
        Assert.All(ids, id => Assert.InRange(id, 0, tokenizer.VocabularySize - 1));
        tokenizer.Decode(ids);
        var decoder = tokenizer.CreateStreamingDecoder();
        foreach (int id in ids) decoder.Append(id);
        decoder.Flush();
    }
}

/// <summary>Cuts a SentencePiece ModelProto to its first pieces, keeping every other field (trainer and normalizer specs).</summary>
internal static class SentencePieceModels
{
    public static byte[] FirstPieces(byte[] model, int count)
    {
        using var output = new MemoryStream();
        int kept = 0;
        for (int at = 0; at < model.Length;)
        {
            int start = at;
            ulong tag = Varint(model, ref at);
            int wire = (int)(tag & 7);
            if (wire == 2) { int length = (int)Varint(model, ref at); at += length; }
            else if (wire == 0) Varint(model, ref at);
            else if (wire == 5) at += 4;
            else if (wire == 1) at += 8;
            else throw new InvalidDataException($"unexpected wire type {wire}");
            bool isPiece = tag >> 3 == 1;
            if (!isPiece || kept++ < count) output.Write(model, start, at - start);
        }
        return output.ToArray();
    }

    private static ulong Varint(byte[] b, ref int at)
    {
        ulong v = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte x = b[at++];
            v |= (ulong)(x & 0x7F) << shift;
            if (x < 0x80) return v;
        }
    }
}
