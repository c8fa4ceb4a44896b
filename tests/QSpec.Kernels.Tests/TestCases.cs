using System.Collections.Concurrent;
using QSpec.Kernels.Backends;

namespace QSpec.Kernels.Tests;

/// <summary>
/// Theory rows that name every (backend, shape) pair, as ggml's test-backend-ops names every case: a failing shape
/// is reported by name and never hides the shapes after it. Backends are created once per name and shared by the
/// cases (they are never disposed before the process ends; ILGPU's simulator is slow to create).
/// </summary>
internal static class TestCases
{
    private static readonly ConcurrentDictionary<string, IBackend> s_backends = new();

    /// <summary>Every backend of <see cref="TestBackends.Names"/> with every case: rows [backend, ..case].</summary>
    public static IEnumerable<object[]> Cross(params object[][] cases)
    {
        foreach (object row in (System.Collections.IEnumerable)TestBackends.Names)
        {
            object backend = row is object[] values ? values[0] : row;
            foreach (var c in cases) yield return [backend, .. c];
        }
    }

    /// <summary>The shared backend named <paramref name="name"/>; do not dispose it.</summary>
    public static IBackend Backend(string name) => s_backends.GetOrAdd(name, TestBackends.Create);
}
