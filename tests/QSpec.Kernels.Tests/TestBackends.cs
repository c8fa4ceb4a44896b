using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The backends every kernel test runs on: each CPU kernel path this machine supports (forced, so each is exercised
/// even where a better one exists). Other backends (e.g. ILGPU) add their names here and a case to <see cref="Create"/>.
/// </summary>
public static class TestBackends
{
    /// <summary>Backend names for [MemberData].</summary>
    public static TheoryData<string> Names
    {
        get
        {
            var data = new TheoryData<string>();
            if (CpuPaths.HasAvx512) data.Add("cpu-avx512");
            if (CpuPaths.HasAvxVnni) data.Add("cpu-avxvnni");
            if (CpuPaths.HasAvx2) data.Add("cpu-avx2");
            data.Add("cpu-scalar");
            return data;
        }
    }

    /// <summary>Creates the backend named <paramref name="name"/>; CPU backends use two threads and split even small matrices.</summary>
    public static IBackend Create(string name)
    {
        CpuKernelPath? path = name switch
        {
            "cpu-avx512" => CpuKernelPath.Avx512,
            "cpu-avxvnni" => CpuKernelPath.AvxVnni,
            "cpu-avx2" => CpuKernelPath.Avx2,
            "cpu-scalar" => CpuKernelPath.Scalar,
            _ => null,
        };
        if (path is null) throw new ArgumentOutOfRangeException(nameof(name), name, "Unknown test backend.");
        return new CpuBackend(new CpuBackendOptions { Path = path.Value, MaxThreads = 2, ParallelThreshold = 4096 });
    }
}
