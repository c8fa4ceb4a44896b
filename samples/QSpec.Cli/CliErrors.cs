namespace QSpec.Cli;

/// <summary>
/// Turns every exception into one line on stderr and an exit code, so no input makes qspec abort (exit 134):
/// the library's documented exceptions for bad input (a malformed or missing file, a wrong option) give exit code 2,
/// running out of memory 3, cancellation 130, and anything else, which is a bug in qspec, 70 (EX_SOFTWARE).
/// </summary>
internal static class CliErrors
{
    /// <summary>Exit code for bad input: a malformed or missing file, an invalid option.</summary>
    public const int BadInput = 2;
    /// <summary>Exit code when memory runs out.</summary>
    public const int OutOfMemory = 3;
    /// <summary>Exit code for an unexpected exception (a bug).</summary>
    public const int InternalError = 70;
    /// <summary>Exit code after Ctrl+C.</summary>
    public const int Cancelled = 130;

    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (IsBadInput(e))
        {
            return Fail(BadInput, $"qspec: error: {e.Message}");
        }
        catch (OperationCanceledException)
        {
            return Fail(Cancelled, "qspec: cancelled");
        }
        catch (OutOfMemoryException e)
        {
            return Fail(OutOfMemory, $"qspec: error: out of memory ({e.Message})");
        }
        catch (Exception e)
        {
            // QSPEC_TRACE=1 adds the stack trace, for the report.
            string trace = Environment.GetEnvironmentVariable("QSPEC_TRACE") == "1" ? Environment.NewLine + e : "";
            return Fail(InternalError, $"qspec: internal error (please report it): {e.GetType().Name}: {e.Message}{trace}");
        }
    }

    /// <summary>The documented exceptions of the loaders and options (file-system errors included).</summary>
    public static bool IsBadInput(Exception e) => e is ArgumentException or InvalidDataException or IOException
        or UnauthorizedAccessException or InvalidOperationException or NotSupportedException or FormatException;

    private static int Fail(int code, string message)
    {
        Console.Out.Flush();
        // One line, whatever the message holds.
        Console.Error.WriteLine(message.ReplaceLineEndings(" "));
        return code;
    }
}
