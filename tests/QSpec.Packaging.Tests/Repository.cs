namespace QSpec.Packaging.Tests;

/// <summary>The repository these tests run in.</summary>
internal static class Repository
{
    /// <summary>The folder holding QSpec.Core.sln, found above the test's base directory.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QSpec.Core.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("QSpec.Core.sln not found above the test's base directory.");
    }
}
