using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace QSpec.DeviceCheck;

/// <summary>
/// Appends one JSON object per check to the results file, flushed per line, so that a run killed at its time limit
/// still reports every check it finished. Each line: check, group, status (pass / fail / error / skipped / measured),
/// seconds, and the check's own fields. Lines are echoed to stdout.
/// </summary>
internal sealed class CheckLog : IDisposable
{
    private readonly StreamWriter _file;
    private readonly TextWriter _echo;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TimeSpan _budget;

    public CheckLog(string path, TextWriter echo, TimeSpan budget)
    {
        Path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _file = new StreamWriter(Path, append: true) { AutoFlush = true };
        _echo = echo;
        _budget = budget;
    }

    public string Path { get; }
    public int Failures { get; private set; }
    public int Passes { get; private set; }

    /// <summary>Seconds since the run started.</summary>
    public double Elapsed => _clock.Elapsed.TotalSeconds;

    /// <summary>True while the whole run's budget has time left for a check expected to take <paramref name="seconds"/>.</summary>
    public bool HasTime(double seconds = 0) => _clock.Elapsed.TotalSeconds + seconds < _budget.TotalSeconds;

    /// <summary>Writes a line that is not a check (the run's header and summary).</summary>
    public void Note(JsonObject fields) => Write(fields);

    /// <summary>
    /// A correctness check: <paramref name="body"/> returns its fields including a boolean "pass". Exceptions become
    /// status "error" (and count as failures); a check left when the budget is spent becomes "skipped".
    /// </summary>
    public void Check(string group, string name, Func<JsonObject> body) => Run(group, name, body, correctness: true);

    /// <summary>A measurement: <paramref name="body"/> returns its figures; status "measured".</summary>
    public void Measure(string group, string name, Func<JsonObject> body) => Run(group, name, body, correctness: false);

    private void Run(string group, string name, Func<JsonObject> body, bool correctness)
    {
        var line = new JsonObject { ["check"] = name, ["group"] = group };
        if (!HasTime())
        {
            line["status"] = "skipped";
            line["reason"] = "time budget spent";
            Write(line);
            return;
        }
        long start = Stopwatch.GetTimestamp();
        try
        {
            var fields = body();
            bool pass = !correctness || (fields["pass"]?.GetValue<bool>() ?? false);
            fields.Remove("pass");
            line["status"] = correctness ? (pass ? "pass" : "fail") : "measured";
            foreach (var (key, value) in fields.ToList())
            {
                fields.Remove(key);
                line[key] = value;
            }
            if (correctness && !pass) Failures++;
            if (correctness && pass) Passes++;
        }
        catch (Exception e)
        {
            line["status"] = "error";
            line["error"] = $"{e.GetType().Name}: {e.Message}";
            Failures++;
        }
        line["seconds"] = Math.Round(Stopwatch.GetElapsedTime(start).TotalSeconds, 3);
        Write(line);
    }

    private void Write(JsonObject line)
    {
        string text = line.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
        _file.WriteLine(text);
        _echo.WriteLine(text);
        _echo.Flush();
    }

    public void Dispose() => _file.Dispose();
}
