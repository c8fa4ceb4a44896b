using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The backends every kernel test runs on: each CPU kernel path this machine supports (forced, so each is exercised
/// even where a better one exists), ILGPU's CPU accelerator, and CUDA when a device is present.
/// </summary>
public static class TestBackends
{
    /// <summary>
    /// Backend names for [MemberData]: every CPU path, ILGPU's CPU accelerator, and "cuda" when a CUDA device is
    /// present or <see cref="CudaRequired"/> (then a machine without a GPU fails every CUDA case instead of dropping it).
    /// </summary>
    public static TheoryData<string> Names
    {
        get
        {
            var data = CpuNames;
            data.Add(Ilgpu.IlgpuTestBackends.Name);
            if (CudaRequired || BackendFactory.CudaDeviceCount() > 0) data.Add("cuda");
            return data;
        }
    }

    /// <summary>QSPEC_REQUIRE_CUDA=1: the run is meant for a GPU, so the CUDA cases must run (and fail without one).</summary>
    public static bool CudaRequired => Environment.GetEnvironmentVariable("QSPEC_REQUIRE_CUDA") == "1";

    /// <summary>The CPU backend's kernel paths this machine supports.</summary>
    public static TheoryData<string> CpuNames
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
        if (name == Ilgpu.IlgpuTestBackends.Name) return Ilgpu.IlgpuTestBackends.Create();
        if (name == "cuda") return BackendFactory.Create(BackendKind.Cuda);
        if (path is null) throw new ArgumentOutOfRangeException(nameof(name), name, "Unknown test backend.");
        return new CpuBackend(new CpuBackendOptions { Path = path.Value, MaxThreads = 2, ParallelThreshold = 4096 });
    }
}
