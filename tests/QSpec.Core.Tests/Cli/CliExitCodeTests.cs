using QSpec.Cli;

namespace QSpec.Core.Tests.Cli;

[CollectionDefinition(nameof(ConsoleCollection), DisableParallelization = true)]
public sealed class ConsoleCollection;

/// <summary>
/// The qspec command on hostile input: each documented loader exception is one line on stderr and exit code 2,
/// and nothing makes it abort (exit 134, an unhandled exception). Runs the real entry point in-process.
/// </summary>
[Collection(nameof(ConsoleCollection))]
public sealed class CliExitCodeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qspec-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Error) Run(params string[] args)
    {
        var error = new StringWriter();
        var output = new StringWriter();
        var (oldError, oldOut) = (Console.Error, Console.Out);
        Console.SetError(error);
        Console.SetOut(output);
        try
        {
            var main = typeof(CliErrors).Assembly.EntryPoint!;
            return ((int)main.Invoke(null, [args])!, error.ToString());
        }
        finally
        {
            Console.SetError(oldError);
            Console.SetOut(oldOut);
        }
    }

    private string File(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Ints(params int[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    /// <summary>Hostile model files, each by name: what qspec generate must refuse with exit code 2.</summary>
    public static TheoryData<string> HostileModels => new()
    {
        "missing", "empty", "three-bytes", "wrapped-size-header", "vocab-int-min", "truncated-checkpoint",
        "garbage", "qspec-bad-utf8", "directory",
    };

    private string Make(string kind) => kind switch
    {
        "missing" => Path.Combine(_dir, "nope.bin"),
        "empty" => File("empty.bin", []),
        "three-bytes" => File("three.bin", [1, 2, 3]),
        "wrapped-size-header" => File("wrapped.bin", Ints(1 << 20, 1 << 20, 599186, 1 << 19, 1 << 19, 898778, 1 << 19)),
        "vocab-int-min" => File("minvocab.bin", [.. Ints(64, 172, 5, 8, 4, int.MinValue, 512), .. new byte[4096]]),
        "truncated-checkpoint" => File("truncated.bin", System.IO.File.ReadAllBytes(SharedData.DefaultModel)[..5000]),
        "garbage" => File("garbage.gguf", [.. "GGUF"u8, .. Enumerable.Range(0, 3000).Select(i => (byte)(i * 7919 >> 3))]),
        "qspec-bad-utf8" => File("bad.qspec", [.. BitConverter.GetBytes(6L), .. "{\"\u00e9\":1}"u8[..2], 0xFF, .. "\":1}"u8]),
        "directory" => Directory.CreateDirectory(Path.Combine(_dir, "folder")).FullName,
        _ => throw new ArgumentException(kind),
    };

    [Theory]
    [MemberData(nameof(HostileModels))]
    public void HostileModelFileIsOneLineAndExitCode2(string kind)
    {
        var path = Make(kind);
        var (code, error) = Run("generate", "--model", path, "--tokenizer", SharedData.DefaultTokenizer, "--max-tokens", "2");
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(code == CliErrors.BadInput, $"exit {code}: {error}");
        var last = Assert.Single(lines, l => l.StartsWith("qspec: error:", StringComparison.Ordinal));
        Assert.Contains(Path.GetFileName(path), last);
    }

    [Theory]
    [InlineData("tokenizer-garbage")]
    [InlineData("tokenizer-wrong-vocab")]
    public void HostileTokenizerIsOneLineAndExitCode2(string kind)
    {
        var path = kind == "tokenizer-garbage"
            ? File("tok.bin", [.. Ints(7), .. Enumerable.Repeat((byte)0xEE, 100)])
            : File("tok.model", System.IO.File.ReadAllBytes(Tokenization.TokenizerFiles.Llama2Model));
        var (code, error) = Run("generate", "--model", SharedData.DefaultModel, "--tokenizer", path, "--max-tokens", "2");
        Assert.True(code == CliErrors.BadInput, $"exit {code}: {error}");
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("qspec: error:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--max-tokens", "-1")]
    [InlineData("--temperature", "NaN")]
    [InlineData("--top-p", "0")]
    [InlineData("--context", "0")]
    [InlineData("--mode", "w9a9")]
    [InlineData("--draft-length", "99")]
    public void BadOptionIsOneLineAndExitCode2(string option, string value)
    {
        string[] mode = option switch { "--mode" => [], "--draft-length" => ["--mode", "qspec"], _ => ["--mode", "auto"] };
        var (code, error) = Run(["generate", "--model", SharedData.DefaultModel, "--tokenizer", SharedData.DefaultTokenizer, .. mode, option, value]);
        Assert.True(code == CliErrors.BadInput, $"exit {code}: {error}");
    }

    [Fact]
    public void AValidRunExitsZero()
    {
        var (code, error) = Run("generate", "--model", SharedData.DefaultModel, "--tokenizer", SharedData.DefaultTokenizer, "--max-tokens", "3");
        Assert.True(code == 0, $"exit {code}: {error}");
    }

    [Fact]
    public void AnUnexpectedExceptionIsOneLineNotAnAbort()
    {
        var error = new StringWriter();
        var old = Console.Error;
        Console.SetError(error);
        try { Assert.Equal(CliErrors.InternalError, CliErrors.Run(() => throw new OverflowException("boom\nsecond line"))); }
        finally { Console.SetError(old); }
        Assert.Equal("qspec: internal error (please report it): OverflowException: boom second line", error.ToString().TrimEnd());
    }
}
