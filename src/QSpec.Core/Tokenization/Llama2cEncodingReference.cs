using System.Text;

namespace QSpec.Tokenization;

/// <summary>
/// The scalar reference of llama2.c's <c>encode()</c> (run.c), written for clarity, not speed (O(n²) per text):
/// the production path is <see cref="Llama2cEncoder"/>, which tests compare against this.
/// </summary>
/// <remarks>
/// Rule: an empty text gives no tokens (only BOS when asked). Otherwise a dummy-prefix space token comes first,
/// then each Unicode scalar maps to its token when the vocabulary has it, else to one byte-fallback token per UTF-8 byte.
/// Then, while some adjacent pair concatenates to a vocabulary string, the pair whose merged token has the highest score
/// is replaced by that token; among equal scores the leftmost pair wins (run.c scans left to right with a strict &gt;),
/// and a merged token scoring -1e10 or less never wins (run.c's initial best score).
/// Lone UTF-16 surrogates cannot reach run.c as UTF-8; they become U+FFFD, as <see cref="Encoding.UTF8"/> would make them.
/// </remarks>
internal static class Llama2cEncodingReference
{
    /// <summary>run.c's starting "best score": merges must score strictly above it.</summary>
    internal const float NoMergeScore = -1e10f;

    /// <summary>Encodes <paramref name="text"/> with the llama2.c rule over <paramref name="vocabulary"/>.</summary>
    public static List<int> Encode(Llama2cVocabulary vocabulary, string text, bool addBos)
    {
        var lookup = BuildLookup(vocabulary.Pieces);
        var tokens = new List<int>();
        if (addBos) tokens.Add(Llama2cVocabulary.BosId);
        if (text.Length == 0) return tokens;

        int start = tokens.Count;
        AppendSymbol(" ", tokens, lookup);
        foreach (var rune in text.EnumerateRunes()) AppendSymbol(rune.ToString(), tokens, lookup);

        while (true)
        {
            float bestScore = NoMergeScore;
            int bestId = -1, bestIndex = -1;
            for (int i = start; i < tokens.Count - 1; i++)
            {
                string merged = vocabulary.Pieces[tokens[i]] + vocabulary.Pieces[tokens[i + 1]];
                if (lookup.TryGetValue(merged, out int id) && vocabulary.Scores[id] > bestScore)
                {
                    bestScore = vocabulary.Scores[id]; bestId = id; bestIndex = i;
                }
            }
            if (bestIndex < 0) return tokens;
            tokens[bestIndex] = bestId;
            tokens.RemoveAt(bestIndex + 1);
        }
    }

    /// <summary>String to id; where a string occurs twice the lower id is kept (run.c's bsearch leaves this unspecified).</summary>
    internal static Dictionary<string, int> BuildLookup(string[] pieces)
    {
        var lookup = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        for (int id = 0; id < pieces.Length; id++) lookup.TryAdd(pieces[id], id);
        return lookup;
    }

    private static void AppendSymbol(string symbol, List<int> tokens, Dictionary<string, int> lookup)
    {
        if (lookup.TryGetValue(symbol, out int id)) { tokens.Add(id); return; }
        foreach (byte b in Encoding.UTF8.GetBytes(symbol)) tokens.Add(Llama2cVocabulary.ByteOffset + b);
    }
}
