using System.Diagnostics;
using System.Text.RegularExpressions;

namespace QSpec.Packaging.Tests;

/// <summary><c>qspec chat</c> as a user runs it: lines on stdin, replies on stdout, a stats line per reply on stderr.</summary>
public partial class ChatCommandTests
{
    private static readonly string s_qspec = Path.Combine(Repository.Root, "samples", "QSpec.Cli", "bin", "Release", "net10.0", "qspec.dll");

    [Fact]
    public void TwoTurnsReuseTheCacheAndResetStartsOver()
    {
        var (code, stdout, stderr) = Qspec("chat --backend cpu --max-tokens 30", "Once upon a time\nThen the dog\n/reset\nOnce upon a time\n/exit\n");
        Assert.True(code == 0, stderr);
        var replies = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, replies.Length);
        Assert.Equal(replies[0], replies[2]); // greedy, and /reset forgot the first two turns
        var cached = StatsRegex().Matches(stderr).Select(m => int.Parse(m.Groups[2].Value)).ToArray();
        Assert.Equal(3, cached.Length);
        Assert.Equal(0, cached[0]);
        Assert.True(cached[1] > 5, $"the second turn reused only {cached[1]} tokens");
        Assert.Equal(0, cached[2]);
        Assert.Contains("conversation reset", stderr);
    }

    [Theory]
    [InlineData("chat --mode turbo", "--mode")]
    [InlineData("chat --draft-length 99", "--draft-length")]
    [InlineData("chat --template nonsense", "--template")]
    [InlineData("chat --min-p 2", "--min-p")]
    public void BadOptionsExitWithCode2AndOneLineNamingTheOption(string arguments, string option)
    {
        var (code, _, stderr) = Qspec(arguments, "");
        Assert.Equal(2, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(option, lines[0]);
    }

    private static (int Code, string Stdout, string Stderr) Qspec(string arguments, string stdin)
    {
        var psi = new ProcessStartInfo("dotnet", $"\"{s_qspec}\" {arguments}")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2))) { p.Kill(entireProcessTree: true); Assert.Fail($"qspec {arguments} timed out"); }
        return (p.ExitCode, stdout, stderr.Result);
    }

    [GeneratedRegex(@"prompt (\d+) \((\d+) cached\)")]
    private static partial Regex StatsRegex();
}
