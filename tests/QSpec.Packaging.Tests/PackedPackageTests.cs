using System.Diagnostics;
using System.IO.Compression;
using System.Text.RegularExpressions;

namespace QSpec.Packaging.Tests;

/// <summary>
/// The packages as a new user gets them: packed from this solution's Release build into a folder feed, restored into
/// an empty console app with its own package folder (nothing from the solution leaks in), built and run.
/// </summary>
public partial class PackedPackageTests
{
    private static readonly string s_repo = FindRepository();

    [Fact]
    public void ReadmeExampleAndTwoChatTurnsRunOnThePackedPackages()
    {
        var work = Directory.CreateTempSubdirectory("qspec-pack-");
        try
        {
            var feed = Path.Combine(work.FullName, "feed");
            Run("dotnet", $"pack \"{Path.Combine(s_repo, "QSpec.Core.sln")}\" -c Release --no-build -o \"{feed}\"", s_repo);
            foreach (var id in new[] { "QSpec.Kernels", "QSpec.Core", "QSpec.Models.Stories260K", "QSpec.Cli" })
            {
                Assert.True(File.Exists(Path.Combine(feed, $"{id}.{Version}.nupkg")), $"{id}.{Version}.nupkg was not packed");
                AssertPackageMetadata(Path.Combine(feed, $"{id}.{Version}.nupkg"), id);
            }
            Assert.True(File.Exists(Path.Combine(feed, $"QSpec.Core.{Version}.snupkg")), "no symbol package");

            var app = Directory.CreateDirectory(Path.Combine(work.FullName, "app")).FullName;
            WriteApp(app, feed, Path.Combine(work.FullName, "packages"));
            var gguf = Path.Combine(SharedModels(), "models", "stories260K", "stories260K-f32.gguf");
            var output = Run("dotnet", $"run -c Release -- \"{gguf}\"", app);

            // The README example streams a story; then two turns through IChatClient, streaming text = non-streaming text.
            Assert.Contains("TURN 1 OK", output);
            Assert.Contains("TURN 2 OK", output);
            Assert.Matches(@"TURN 2 OK reused=[1-9]\d*", output);
        }
        finally
        {
            try { work.Delete(recursive: true); } catch (IOException) { } // best effort
        }
    }

    /// <summary>The version the packages carry (Directory.Build.props).</summary>
    private static string Version => VersionRegex().Match(File.ReadAllText(Path.Combine(s_repo, "Directory.Build.props"))).Groups[1].Value;

    private static void AssertPackageMetadata(string nupkg, string id)
    {
        using var zip = ZipFile.OpenRead(nupkg);
        Assert.NotNull(zip.GetEntry("README.md"));
        using var reader = new StreamReader(zip.GetEntry($"{id}.nuspec")!.Open());
        var nuspec = reader.ReadToEnd();
        Assert.Contains("<repository type=\"git\" url=\"https://", nuspec);
        Assert.Contains("<readme>README.md</readme>", nuspec);
        using var readme = new StreamReader(zip.GetEntry("README.md")!.Open());
        var text = readme.ReadToEnd();
        Assert.Contains(id == "QSpec.Cli" ? "dotnet tool install" : "dotnet add package", text);
        // Links must be absolute: nuget.org renders the README away from the repository.
        foreach (Match link in MarkdownLinkRegex().Matches(text))
            Assert.True(link.Groups[1].Value.StartsWith("https://", StringComparison.Ordinal), $"{id} README: relative link '{link.Groups[1].Value}'");
    }

    private static void WriteApp(string app, string feed, string packages)
    {
        var globalPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="machine" value="{globalPackages}" />
              </fallbackPackageFolders>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <RestorePackagesPath>{packages}</RestorePackagesPath>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="QSpec.Core" Version="{Version}" />
                <PackageReference Include="QSpec.Models.Stories260K" Version="{Version}" />
              </ItemGroup>
            </Project>
            """);
        // Program.cs: the README's example exactly as printed, then the two-turn check.
        File.WriteAllText(Path.Combine(app, "Program.cs"), ReadmeExample() + "\n" + TwoTurnCheck);
        File.WriteAllText(Path.Combine(app, "Usings.cs"), "global using System.Text;\nglobal using Microsoft.Extensions.AI;\nglobal using QSpec.Chat;\n");
    }

    /// <summary>The first C# block of src/QSpec.Core/README.md.</summary>
    internal static string ReadmeExample()
    {
        var readme = File.ReadAllText(Path.Combine(s_repo, "src", "QSpec.Core", "README.md"));
        var m = CSharpBlockRegex().Match(readme);
        Assert.True(m.Success, "src/QSpec.Core/README.md has no ```csharp block");
        return m.Groups[1].Value;
    }

    /// <summary>Appended to the README example (whose top-level statements it follows): two turns on the GGUF in args[0].</summary>
    private const string TwoTurnCheck = """

        Console.WriteLine();
        using var client = new QSpecChatClient(args[0]);
        using var fresh = new QSpecChatClient(args[0]);
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 48 };
        List<ChatMessage> turns = [];
        foreach (var (user, n) in new[] { ("Once upon a time", 1), ("Then the little dog", 2) })
        {
            turns.Add(new ChatMessage(ChatRole.User, user));
            var response = await client.GetResponseAsync(turns, options);
            var streamed = new StringBuilder();
            await foreach (var update in fresh.GetStreamingResponseAsync(turns, options)) streamed.Append(update.Text);
            if (response.Text != streamed.ToString() || response.Text.Length == 0)
            {
                Console.WriteLine($"TURN {n} MISMATCH\n[{response.Text}]\n[{streamed}]");
                return 1;
            }
            Console.WriteLine($"TURN {n} OK reused={response.Usage?.CachedInputTokenCount} text={response.Text}");
            turns.AddMessages(response);
        }
        return 0;
        """;

    private static string Run(string file, string arguments, string directory)
    {
        var psi = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["MSBuildSDKsPath"] = null; // the child SDK resolves its own
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(4))) { p.Kill(entireProcessTree: true); Assert.Fail($"{file} {arguments} timed out"); }
        Assert.True(p.ExitCode == 0, $"{file} {arguments} exited with {p.ExitCode}\n{stdout}\n{stderr.Result}");
        return stdout;
    }

    private static string SharedModels() => Environment.GetEnvironmentVariable("QSPEC_MODELS") is { Length: > 0 } env
        ? env : Path.GetFullPath(Path.Combine(s_repo, "..", "shared"));

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QSpec.Core.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("QSpec.Core.sln not found above the test's base directory.");
    }

    [GeneratedRegex(@"<Version>([^<]+)</Version>")]
    private static partial Regex VersionRegex();
    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlockRegex();
    [GeneratedRegex(@"\]\(([^)]+)\)")]
    private static partial Regex MarkdownLinkRegex();
}
