using System.Diagnostics;

namespace QSpec.Cli;

/// <summary>
/// Progress of a job of known length on stderr. On a terminal: one line redrawn in place, "label [####....] i/N  p%
/// ETA m:ss  message". Off a terminal (redirected, CI logs): plain lines, at most one per 10% (every step when N ≤ 20).
/// </summary>
internal sealed class ProgressDisplay(TextWriter writer, string label, int total, bool interactive)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _done;
    private int _lastDecile = -1;

    /// <summary>A display on stderr that is interactive when stderr is a terminal.</summary>
    public static ProgressDisplay OnStderr(string label, int total) => new(Console.Error, label, total, !Console.IsErrorRedirected);

    /// <summary>Steps finished so far.</summary>
    public int Done => _done;

    /// <summary>Shows <paramref name="message"/> without finishing a step (e.g. a phase that is not counted).</summary>
    public void Note(string message) => Draw(message);

    /// <summary>Finishes one step; <paramref name="message"/> says what is next or what was done.</summary>
    public void Step(string? message = null)
    {
        _done = Math.Min(total, _done + 1);
        Draw(message);
    }

    /// <summary>Ends the display with the elapsed time.</summary>
    public void Finish()
    {
        if (interactive) writer.WriteLine();
        writer.WriteLine($"{label}: {_done}/{total} in {Format(_clock.Elapsed)}");
    }

    /// <summary>The line for the current state (exposed for tests).</summary>
    internal string Line(string? message)
    {
        double fraction = total == 0 ? 1 : (double)_done / total;
        string eta = _done == 0 || _done == total ? "" : $"  ETA {Format(TimeSpan.FromSeconds(_clock.Elapsed.TotalSeconds / _done * (total - _done)))}";
        string bar = interactive ? $" [{new string('#', (int)(fraction * 24))}{new string('.', 24 - (int)(fraction * 24))}]" : "";
        return $"{label}{bar} {_done}/{total} {fraction * 100,3:F0}%{eta}{(string.IsNullOrEmpty(message) ? "" : "  " + message)}";
    }

    private void Draw(string? message)
    {
        var line = Line(message);
        if (interactive)
        {
            int width = Console.IsErrorRedirected ? 120 : Math.Max(40, Console.WindowWidth - 1);
            writer.Write("\r" + (line.Length > width ? line[..width] : line.PadRight(width)));
            return;
        }
        int decile = total == 0 ? 10 : _done * 10 / total;
        if (total <= 20 || decile != _lastDecile) { writer.WriteLine(line); _lastDecile = decile; }
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"m\:ss");
}
