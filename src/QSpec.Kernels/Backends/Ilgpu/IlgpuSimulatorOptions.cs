using ILGPU.Runtime.CPU;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Shape of the device that ILGPU's CPU accelerator simulates (<see cref="IlgpuBackend.CreateCpuSimulator"/>).
/// </summary>
/// <remarks>
/// The simulator runs every simulated thread of a group as its own OS thread, and every warp shuffle and group barrier
/// is a barrier across those threads. When a warp has more threads than the machine has free cores, each shuffle costs
/// context switches, so kernel time grows steeply with the warp size (measured on 2 busy cores, one stories260K W4A16
/// token: warp 2 ≈ 0.25 s, warp 4 ≈ 0.75 s, warp 32 tens of seconds). The defaults (warp 2, two warps per
/// group) still exercise multi-lane shuffles and multi-warp groups; the kernels read warp and group sizes at run time,
/// so their results depend on this shape only through float summation order, which the tests bound by tolerances
/// (INT4 × INT8 linears stay bit exact).
/// </remarks>
public sealed class IlgpuSimulatorOptions
{
    /// <summary>Lanes per warp (ILGPU requires at least 2). Default 2.</summary>
    public int WarpSize { get; init; } = 2;

    /// <summary>Warps per multiprocessor, which is also the largest group (a power of two). Default 2.</summary>
    public int WarpsPerMultiprocessor { get; init; } = 2;

    /// <summary>Simulated multiprocessors (each runs its own set of threads). Default 1.</summary>
    public int Multiprocessors { get; init; } = 1;

    /// <summary>
    /// Device memory of the simulated device in bytes, enforced by the backend over its live allocations (null: only
    /// the host's memory limits it). Lets tests run a device out of memory at a chosen point. Default null.
    /// </summary>
    public long? MemoryBytes { get; init; }

    /// <summary>
    /// ILGPU's execution mode. Default <see cref="CPUAcceleratorMode.Parallel"/> (Auto would switch to Sequential when
    /// a debugger is attached).
    /// </summary>
    public CPUAcceleratorMode Mode { get; init; } = CPUAcceleratorMode.Parallel;

    internal CPUDevice CreateDevice()
    {
        if (WarpSize < 2)
            throw new ArgumentOutOfRangeException(nameof(WarpSize), WarpSize, "ILGPU's CPU accelerator needs at least 2 lanes per warp.");
        if (WarpsPerMultiprocessor < 1 || (WarpsPerMultiprocessor & (WarpsPerMultiprocessor - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(WarpsPerMultiprocessor), WarpsPerMultiprocessor, "Warps per multiprocessor must be a power of two.");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Multiprocessors);
        if (MemoryBytes is <= 0) throw new ArgumentOutOfRangeException(nameof(MemoryBytes), MemoryBytes, "Device memory must be positive.");
        return new CPUDevice(WarpSize, WarpsPerMultiprocessor, Multiprocessors);
    }
}
