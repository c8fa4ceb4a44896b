using System.Buffers.Binary;
using System.Text;
using QSpec.Tokenization;

namespace QSpec.Core.Tests.Tokenization;

/// <summary>Shared tokenizer files, loaded once per test run, and helpers to write llama2.c tokenizer files.</summary>
internal static class TokenizerFiles
{
    public static string Llama2Model => SharedData.PathOf("models", "llama2-tokenizer", "tokenizer.model");
    public static string Llama2Bin => SharedData.PathOf("models", "llama2-tokenizer", "tokenizer.bin");
    public static string Tok512Bin => SharedData.PathOf("models", "stories260K", "tok512.bin");

    private static readonly Lazy<LlamaTextTokenizer> s_model = new(() => LlamaTextTokenizer.Load(Llama2Model));
    private static readonly Lazy<LlamaTextTokenizer> s_bin = new(() => LlamaTextTokenizer.Load(Llama2Bin));
    private static readonly Lazy<LlamaTextTokenizer> s_tok512 = new(() => LlamaTextTokenizer.Load(Tok512Bin));
    private static readonly Lazy<string[]> s_paragraphs = new(() =>
        File.ReadAllText(SharedData.TinyStoriesValid)
            .ReplaceLineEndings("\n")
            .Split("\n\n")
            .Select(p => p.Trim('\n'))
            .Where(p => p.Length > 0)
            .ToArray());

    public static LlamaTextTokenizer Llama2FromModel => s_model.Value;
    public static LlamaTextTokenizer Llama2FromBin => s_bin.Value;
    public static LlamaTextTokenizer Tok512 => s_tok512.Value;

    /// <summary>TinyStories validation paragraphs (split on blank lines), in file order.</summary>
    public static IReadOnlyList<string> Paragraphs(int count)
    {
        Assert.True(s_paragraphs.Value.Length >= count, $"only {s_paragraphs.Value.Length} paragraphs in the data file");
        return s_paragraphs.Value[..count];
    }

    /// <summary>Strings where encoders tend to disagree: repeated merges with equal scores, byte fallback, odd whitespace.</summary>
    public static readonly string[] TrickyTexts =
    [
        "aaaa", "aaaaa", "zzzzzz", "hhhhhhhh", "....", "!!!!!!", "lll lll", "     ", "\n\n\n", "\t tab",
        "héllo 😀", "中文字符", "a\u2581b", "lone \ud800 surrogate", "<0x41> <s> </s>", "ÀÉÎÕÜ ñ ß", "x",
    ];

    /// <summary>Serializes a llama2.c tokenizer file: int32 max length, then (float score, int32 length, bytes) per token.</summary>
    public static byte[] Llama2cFile(int maxTokenLength, IEnumerable<(float Score, byte[] Bytes)> tokens)
    {
        using var stream = new MemoryStream();
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(word, maxTokenLength);
        stream.Write(word);
        foreach (var (score, bytes) in tokens)
        {
            BinaryPrimitives.WriteSingleLittleEndian(word, score); stream.Write(word);
            BinaryPrimitives.WriteInt32LittleEndian(word, bytes.Length); stream.Write(word);
            stream.Write(bytes);
        }
        return stream.ToArray();
    }

    /// <summary>A minimal valid vocabulary: the 3 specials, the 256 byte tokens, then <paramref name="merges"/> scored -1, -2, ...</summary>
    public static List<(float Score, byte[] Bytes)> MinimalTokens(params string[] merges)
    {
        var tokens = new List<(float, byte[])> { (0, "<unk>"u8.ToArray()), (0, "\n<s>\n"u8.ToArray()), (0, "\n</s>\n"u8.ToArray()) };
        for (int b = 0; b < 256; b++) tokens.Add((0, Encoding.UTF8.GetBytes($"<0x{b:X2}>")));
        for (int i = 0; i < merges.Length; i++) tokens.Add((-(i + 1), Encoding.UTF8.GetBytes(merges[i])));
        return tokens;
    }

    /// <summary>Writes <paramref name="bytes"/> to a fresh temporary file with <paramref name="extension"/>; the caller deletes it.</summary>
    public static string WriteTemp(byte[] bytes, string extension = ".bin")
    {
        var path = Path.Combine(Path.GetTempPath(), $"qspec-tok-{Guid.NewGuid():N}{extension}");
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
