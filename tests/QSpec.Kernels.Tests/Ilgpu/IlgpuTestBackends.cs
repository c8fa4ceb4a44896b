using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>
/// The ILGPU entry for the shared backend test list (TestBackends): the ILGPU backend on ILGPU's CPU accelerator,
/// simulating a small device (warp 2, groups of up to two warps: see <see cref="IlgpuSimulatorOptions"/>). Keep shapes
/// small when running through it.
/// </summary>
public static class IlgpuTestBackends
{
    /// <summary>Display name of the entry.</summary>
    public const string Name = "ilgpu-cpu";

    /// <summary>Creates a fresh backend (the caller disposes it).</summary>
    public static IBackend Create() => IlgpuBackend.CreateCpuSimulator();
}

/// <summary>One ILGPU CPU-simulator backend shared by the ILGPU test classes (kernels load once).</summary>
public sealed class IlgpuFixture : IDisposable
{
    public IlgpuBackend Backend { get; } = IlgpuBackend.CreateCpuSimulator();

    public void Dispose() => Backend.Dispose();
}

[CollectionDefinition(Name)]
public sealed class IlgpuCollection : ICollectionFixture<IlgpuFixture>
{
    public const string Name = "ilgpu";
}

/// <summary>
/// The host-copy tests' own collection, run alone after every parallel collection (DisableParallelization): their
/// background thread forces compacting collections back to back, and with other ILGPU CPU accelerators launching
/// kernels in parallel test classes at the same time a full-suite run hung (one thread spinning for minutes) about one
/// run in five; alone they pass in seconds.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IlgpuHostCopyCollection : ICollectionFixture<IlgpuFixture>
{
    public const string Name = "ilgpu-host-copy";
}
