using System.Text;

namespace QSpec.Generation;

/// <summary>
/// Finds stop strings in streamed text that arrives in pieces (a stop string can span several tokens). Text that
/// could still be the start of a stop string is held back until the next piece decides; the rest is released.
/// </summary>
internal sealed class StopStringMatcher(IReadOnlyList<string> stops)
{
    private readonly StringBuilder _held = new();

    /// <summary>True once a stop string has been seen; nothing after it is released.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds <paramref name="piece"/> and returns the text that is now certainly before any stop string.</summary>
    public string Push(string piece)
    {
        if (Stopped) return "";
        if (stops.Count == 0) return piece;
        _held.Append(piece);
        var text = _held.ToString();
        int first = -1;
        foreach (var s in stops)
        {
            int at = text.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        if (first >= 0)
        {
            Stopped = true;
            _held.Clear();
            return text[..first];
        }
        int keep = LongestSuffixThatStartsAStop(text);
        _held.Clear().Append(text, text.Length - keep, keep);
        return text[..^keep];
    }

    /// <summary>Releases the held-back text at the end of the stream.</summary>
    public string Flush()
    {
        var text = Stopped ? "" : _held.ToString();
        _held.Clear();
        return text;
    }

    private int LongestSuffixThatStartsAStop(string text)
    {
        int best = 0;
        foreach (var s in stops)
            for (int n = Math.Min(s.Length - 1, text.Length); n > best; n--)
                if (text.AsSpan(text.Length - n).SequenceEqual(s.AsSpan(0, n))) { best = n; break; }
        return best;
    }
}
