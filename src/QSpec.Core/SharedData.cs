namespace QSpec;

/// <summary>
/// Locates the shared models and data folder: <c>$QSPEC_MODELS</c> when set, else the first
/// <c>../shared</c> found walking up from the current directory and from the application's base directory.
/// This is the only place that knows the layout. Internal: a repository and test helper, not library API
/// (the CLI, tests and benchmarks see it through InternalsVisibleTo).
/// </summary>
internal static class SharedData
{
    /// <summary>The environment variable that overrides the shared folder.</summary>
    public const string EnvironmentVariable = "QSPEC_MODELS";

    /// <summary>The shared folder, or null when none is found.</summary>
    public static string? TryGetRoot()
    {
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env)) return Path.GetFullPath(env);
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "..", "shared");
                if (Directory.Exists(Path.Combine(candidate, "models"))) return Path.GetFullPath(candidate);
            }
        }
        return null;
    }

    /// <summary>The shared folder.</summary>
    /// <exception cref="DirectoryNotFoundException">Neither <c>$QSPEC_MODELS</c> nor a <c>../shared</c> folder exists.</exception>
    public static string Root => TryGetRoot() ?? throw new DirectoryNotFoundException(
        $"The shared models folder was not found: set {EnvironmentVariable} or place it at ../shared beside the repository.");

    /// <summary>A path under the shared folder, e.g. <c>Path("models", "stories260K", "stories260K.bin")</c>.</summary>
    public static string PathOf(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>The default model: stories260K (llama2.c fp32).</summary>
    public static string DefaultModel => PathOf("models", "stories260K", "stories260K.bin");

    /// <summary>The default model's tokenizer (llama2.c tok512.bin).</summary>
    public static string DefaultTokenizer => PathOf("models", "stories260K", "tok512.bin");

    /// <summary>The TinyStories validation head: calibration, perplexity and benchmark prompts.</summary>
    public static string TinyStoriesValid => PathOf("data", "tinystories-valid", "tinystories_valid_head.txt");
}
