using System.Text;

namespace QSpec.Tokenization;

/// <summary>One encoded token and the UTF-16 range of the source text it covers.</summary>
internal readonly record struct Llama2cToken(int Id, int Start, int End);

/// <summary>
/// llama2.c's encoding rule (see <see cref="Llama2cEncodingReference"/>) in O(n log n):
/// a precomputed pair-to-merge table replaces run.c's string concatenation and a priority queue replaces its full rescan.
/// Immutable after construction, so one instance may encode on several threads.
/// </summary>
/// <remarks>
/// Equivalence with run.c: run.c merges, at each step, the highest-scoring adjacent pair, leftmost on ties.
/// Every adjacency that ever exists is queued when it appears, keyed by (score descending, left symbol's original index
/// ascending); original indices keep left-to-right order through merges, so the first live entry popped is run.c's choice.
/// An entry is live while its two symbols are still adjacent and still hold the ids they had when it was queued
/// (a symbol's piece only grows, so its id never comes back).
/// </remarks>
internal sealed class Llama2cEncoder
{
    private readonly Llama2cVocabulary _vocabulary;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    // Ids sharing a string with a lower id map to that id: merges depend on strings, not ids.
    private readonly int[] _canonical;
    private readonly Dictionary<(int Left, int Right), int> _merges;
    private readonly int _spaceId;

    public Llama2cEncoder(Llama2cVocabulary vocabulary)
    {
        _vocabulary = vocabulary;
        var pieces = vocabulary.Pieces;
        var lookup = Llama2cEncodingReference.BuildLookup(pieces);
        _lookup = lookup.GetAlternateLookup<ReadOnlySpan<char>>();
        _canonical = new int[pieces.Length];
        for (int id = 0; id < pieces.Length; id++) _canonical[id] = lookup[pieces[id]];

        // (a, b) merges into m exactly when piece(a) + piece(b) == piece(m): enumerate the splits of every piece.
        // Only splits into two lengths that some piece has can match, so the others are skipped without hashing:
        // hashing every prefix of every piece is quadratic in a piece's length (one 400,000-byte token took 17 s).
        var lengths = new HashSet<int>();
        foreach (var p in pieces) lengths.Add(p.Length);
        var sortedLengths = lengths.Order().ToArray();
        _merges = new Dictionary<(int, int), int>();
        for (int id = 0; id < pieces.Length; id++)
        {
            if (_canonical[id] != id || vocabulary.Scores[id] <= Llama2cEncodingReference.NoMergeScore) continue;
            var piece = pieces[id].AsSpan();
            foreach (int split in sortedLengths)
            {
                if (split >= piece.Length) break;
                if (split == 0 || !lengths.Contains(piece.Length - split)) continue;
                if (_lookup.TryGetValue(piece[..split], out int left) && _lookup.TryGetValue(piece[split..], out int right))
                    _merges[(left, right)] = id;
            }
        }
        _spaceId = lookup.TryGetValue(" ", out int space) ? space : -1;
    }

    /// <summary>The vocabulary this encoder reads.</summary>
    public Llama2cVocabulary Vocabulary => _vocabulary;

    /// <summary>Encodes <paramref name="text"/>; BOS, when asked, covers the empty range at 0.</summary>
    public List<Llama2cToken> Encode(ReadOnlySpan<char> text, bool addBos)
    {
        var result = new List<Llama2cToken>(text.Length / 2 + 2);
        if (addBos) result.Add(new Llama2cToken(Llama2cVocabulary.BosId, 0, 0));
        if (text.IsEmpty) return result;

        var symbols = new List<Llama2cToken>(text.Length + 1);
        AddSymbol(symbols, _spaceId, " ", 0, 0);
        Span<char> buffer = stackalloc char[2];
        for (int i = 0; i < text.Length;)
        {
            // A lone surrogate decodes to U+FFFD, as UTF-8 encoding of the string would make it.
            Rune.DecodeFromUtf16(text[i..], out var rune, out int used);
            int chars = rune.EncodeToUtf16(buffer);
            AddSymbol(symbols, _lookup.TryGetValue(buffer[..chars], out int id) ? id : -1, rune.ToString(), i, i + used);
            i += used;
        }
        Merge(symbols);
        result.AddRange(symbols);
        return result;
    }

    private static void AddSymbol(List<Llama2cToken> symbols, int id, string text, int start, int end)
    {
        if (id >= 0) { symbols.Add(new Llama2cToken(id, start, end)); return; }
        // Byte fallback: every byte token of one character covers that character's whole range.
        foreach (byte b in Encoding.UTF8.GetBytes(text)) symbols.Add(new Llama2cToken(Llama2cVocabulary.ByteOffset + b, start, end));
    }

    private void Merge(List<Llama2cToken> symbols)
    {
        int n = symbols.Count;
        var id = new int[n];
        var next = new int[n];
        var prev = new int[n];
        var end = new int[n];
        for (int i = 0; i < n; i++) { id[i] = symbols[i].Id; next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; end[i] = symbols[i].End; }

        var queue = new PriorityQueue<(int Left, int Right, int LeftId, int RightId, int Merged), (float Score, int Left)>(
            n, Comparer<(float Score, int Left)>.Create((a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left)));
        for (int i = 0; i + 1 < n; i++) TryQueue(i, i + 1);

        while (queue.TryDequeue(out var pair, out _))
        {
            if (next[pair.Left] != pair.Right || id[pair.Left] != pair.LeftId || id[pair.Right] != pair.RightId) continue;
            id[pair.Left] = pair.Merged;
            end[pair.Left] = end[pair.Right];
            next[pair.Left] = next[pair.Right];
            if (next[pair.Right] >= 0) prev[next[pair.Right]] = pair.Left;
            next[pair.Right] = -2; // dead: never adjacent again
            if (prev[pair.Left] >= 0) TryQueue(prev[pair.Left], pair.Left);
            if (next[pair.Left] >= 0) TryQueue(pair.Left, next[pair.Left]);
        }

        var merged = new List<Llama2cToken>(n);
        for (int i = 0; i >= 0; i = next[i]) merged.Add(new Llama2cToken(id[i], symbols[i].Start, end[i]));
        symbols.Clear();
        symbols.AddRange(merged);

        void TryQueue(int left, int right)
        {
            if (_merges.TryGetValue((_canonical[id[left]], _canonical[id[right]]), out int m))
                queue.Enqueue((left, right, id[left], id[right], m), (_vocabulary.Scores[m], left));
        }
    }
}
