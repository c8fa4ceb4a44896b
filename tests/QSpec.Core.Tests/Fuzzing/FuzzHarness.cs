using System.Diagnostics;

namespace QSpec.Core.Tests.Fuzzing;

/// <summary>
/// Runs a reader over the mutants of one <see cref="FileMutator"/> family and collects every broken promise:
/// an exception type the reader does not document, a case slower than <see cref="MaxCaseTime"/>, or more bytes
/// allocated than <see cref="AllocationFactor"/> × the mutant's size + <see cref="AllocationSlack"/>.
/// All failures are listed (with their case numbers, which reproduce them), not just the first.
/// </summary>
public static class FuzzHarness
{
    /// <summary>The documented exceptions of a file loader.</summary>
    public static readonly Type[] LoaderExceptions = [typeof(InvalidDataException), typeof(FileNotFoundException), typeof(ArgumentException)];

    /// <summary>The most one case may take (generous: five agents share two cores).</summary>
    public static readonly TimeSpan MaxCaseTime = TimeSpan.FromSeconds(1);

    /// <summary>Allocation bound: a small multiple of the file's size ...</summary>
    public const long AllocationFactor = 8;

    /// <summary>... plus a fixed allowance for the reader's own tables and messages.</summary>
    public const long AllocationSlack = 4 << 20;

    /// <summary>
    /// Runs <paramref name="load"/> on the cases of <paramref name="family"/> among the first <paramref name="cases"/>
    /// cases of <paramref name="mutator"/>. Each mutant is written to a temporary file whose name ends in
    /// <paramref name="extension"/>; <paramref name="load"/> gets the path and must either succeed or throw one of
    /// <paramref name="documented"/> (subclasses count, so ArgumentOutOfRangeException is an ArgumentException).
    /// </summary>
    /// <param name="messageNamesFile">When true, each documented exception's message must contain the path.</param>
    public static void Run(FileMutator mutator, Mutation family, int cases, string extension, Action<string> load,
                           Type[]? documented = null, bool messageNamesFile = true)
    {
        documented ??= LoaderExceptions;
        var families = mutator.Families;
        int familyIndex = IndexOf(families, family);
        Assert.True(familyIndex >= 0, $"{family} is not used by this mutator");
        var failures = new List<string>();
        var dir = Directory.CreateTempSubdirectory("qspec-fuzz-").FullName;
        int ran = 0;
        try
        {
            load(Path.Combine(dir, "warm-up-missing" + extension)); // JIT and lazy tables outside the measured cases
        }
        catch (FileNotFoundException) { }
        try
        {
            for (int i = familyIndex; i < cases; i += families.Count)
            {
                var bytes = mutator.Mutate(i, out var what);
                var path = Path.Combine(dir, $"case{i}{extension}");
                File.WriteAllBytes(path, bytes);
                ran++;
                long before = GC.GetAllocatedBytesForCurrentThread();
                var clock = Stopwatch.StartNew();
                try
                {
                    load(path);
                }
                catch (Exception e) when (documented.Any(t => t.IsInstanceOfType(e)))
                {
                    if (messageNamesFile && !e.Message.Contains(path, StringComparison.Ordinal))
                        failures.Add($"{what}: {e.GetType().Name} does not name the file: {e.Message}");
                }
                catch (Exception e)
                {
                    failures.Add($"{what}: undocumented {e.GetType().Name}: {e.Message}");
                }
                clock.Stop();
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                if (clock.Elapsed > MaxCaseTime)
                {
                    // The cores are shared: time a slow case once more and report it only if it is slow again.
                    var again = Stopwatch.StartNew();
                    try { load(path); } catch (Exception) { }
                    if (again.Elapsed > MaxCaseTime) failures.Add($"{what}: took {clock.Elapsed.TotalMilliseconds:F0} ms, then {again.Elapsed.TotalMilliseconds:F0} ms");
                }
                long limit = AllocationFactor * bytes.Length + AllocationSlack;
                if (allocated > limit) failures.Add($"{what}: allocated {allocated:N0} bytes, limit {limit:N0} for a {bytes.Length:N0}-byte file");
                File.Delete(path);
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
        Assert.True(ran > 0, "no case ran");
        Assert.True(failures.Count == 0, $"{failures.Count} of {ran} {family} cases failed:\n" + string.Join("\n", failures.Take(40)));
    }

    /// <summary>Cases for a theory over families: one row per family of <paramref name="mutator"/>.</summary>
    public static TheoryData<Mutation> FamiliesOf(FileMutator mutator)
    {
        var data = new TheoryData<Mutation>();
        foreach (var m in mutator.Families) data.Add(m);
        return data;
    }

    private static int IndexOf(IReadOnlyList<Mutation> list, Mutation m)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == m) return i;
        return -1;
    }
}
