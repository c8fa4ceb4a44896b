namespace QSpec.Cli;

/// <summary>Turns the library's documented exceptions into a one-line message and exit code 2.</summary>
internal static class CliErrors
{
    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException
                                      or DirectoryNotFoundException or InvalidOperationException or NotSupportedException)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"qspec: error: {e.Message}");
            return 2;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("qspec: cancelled");
            return 130;
        }
    }
}
