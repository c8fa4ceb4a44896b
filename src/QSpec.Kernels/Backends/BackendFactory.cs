using ILGPU;
using ILGPU.Runtime.Cuda;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Backends.Ilgpu;

namespace QSpec.Kernels.Backends;

/// <summary>Which backend <see cref="BackendFactory.Create"/> builds.</summary>
public enum BackendKind
{
    /// <summary>CUDA when a CUDA device is present, else the CPU backend.</summary>
    Auto,
    /// <summary>The CPU SIMD backend.</summary>
    Cpu,
    /// <summary>The ILGPU backend on the first CUDA device; fails when there is none.</summary>
    Cuda,
    /// <summary>The ILGPU backend on ILGPU's CPU accelerator (a slow GPU simulator, for tests).</summary>
    IlgpuCpu,
}

/// <summary>Chooses and builds a backend.</summary>
public static class BackendFactory
{
    /// <summary>Builds the backend of the given kind (see <see cref="BackendKind"/>).</summary>
    /// <exception cref="InvalidOperationException"><see cref="BackendKind.Cuda"/> was asked for and no CUDA device exists;
    /// the message lists the accelerators that were found.</exception>
    public static IBackend Create(BackendKind kind = BackendKind.Auto) => kind switch
    {
        BackendKind.Cpu => new CpuBackend(),
        BackendKind.IlgpuCpu => IlgpuBackend.CreateCpuSimulator(),
        BackendKind.Cuda => CudaDeviceCount() > 0
            ? IlgpuBackend.CreateCuda()
            : throw new InvalidOperationException(
                $"No CUDA device found; accelerators present: {string.Join(", ", DescribeAccelerators())}. " +
                "Use BackendKind.Auto or BackendKind.Cpu on machines without an NVIDIA GPU and driver."),
        BackendKind.Auto => CudaDeviceCount() > 0 ? IlgpuBackend.CreateCuda() : new CpuBackend(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown backend kind."),
    };

    /// <summary>The number of CUDA devices ILGPU can see (0 without an NVIDIA driver).</summary>
    public static int CudaDeviceCount()
    {
        using var context = Context.Create(b => b.Cuda());
        return context.GetCudaDevices().Count;
    }

    /// <summary>"Type: name" for every accelerator ILGPU detects (CPU, CUDA, OpenCL).</summary>
    public static IReadOnlyList<string> DescribeAccelerators()
    {
        using var context = Context.Create(b => b.AllAccelerators());
        return context.Devices.Select(d => $"{d.AcceleratorType}: {d.Name}").ToList();
    }
}
