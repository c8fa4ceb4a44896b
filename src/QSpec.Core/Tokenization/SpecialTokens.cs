using System.Runtime.CompilerServices;

namespace QSpec.Tokenization;

/// <summary>
/// The control tokens of a vocabulary by their text, e.g. <c>&lt;|im_end|&gt;</c> → id, so a rendered chat prompt can
/// be encoded with those markers as single ids (the text tokenizer would split them into pieces). A control token is
/// a piece that prints as <c>&lt;…&gt;</c> without spaces and is not a byte piece; BOS and EOS (which print nothing)
/// are <c>&lt;s&gt;</c> and <c>&lt;/s&gt;</c> unless another piece prints so. Built once per tokenizer and cached.
/// </summary>
internal sealed class SpecialTokens
{
    private static readonly ConditionalWeakTable<LlamaTextTokenizer, SpecialTokens> s_cache = new();

    private SpecialTokens(LlamaTextTokenizer tokenizer)
    {
        var byText = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < tokenizer.VocabularySize; id++)
        {
            if (id == tokenizer.BosId || id == tokenizer.EosId) continue;
            var text = tokenizer.Decode([id]);
            if (text.Length >= 3 && text[0] == '<' && text[^1] == '>' && !text.Contains(' ') && !text.StartsWith("<0x", StringComparison.Ordinal))
                byText.TryAdd(text, id);
        }
        byText.TryAdd("<s>", tokenizer.BosId);
        byText.TryAdd("</s>", tokenizer.EosId);
        ByText = byText;
    }

    /// <summary>The special tokens of <paramref name="tokenizer"/>.</summary>
    public static SpecialTokens Of(LlamaTextTokenizer tokenizer) => s_cache.GetValue(tokenizer, t => new SpecialTokens(t));

    /// <summary>Control-token text → id.</summary>
    public IReadOnlyDictionary<string, int> ByText { get; }

    /// <summary>
    /// Encodes <paramref name="text"/> with every control-token text as its single id and the text between them by
    /// the tokenizer, BOS first when <paramref name="addBos"/>.
    /// </summary>
    public List<int> Encode(LlamaTextTokenizer tokenizer, string text, bool addBos)
    {
        var ids = new List<int>();
        if (addBos) ids.Add(tokenizer.BosId);
        int start = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != '<') continue;
            int end = text.IndexOf('>', i);
            if (end < 0) break;
            if (!ByText.TryGetValue(text[i..(end + 1)], out int id)) continue;
            if (i > start) ids.AddRange(tokenizer.Encode(text[start..i], addBos: false));
            ids.Add(id);
            start = end + 1;
            i = end;
        }
        if (start < text.Length) ids.AddRange(tokenizer.Encode(text[start..], addBos: false));
        return ids;
    }
}
