using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>
/// The ILGPU entry for the shared backend test list (TestBackends): the ILGPU backend on ILGPU's CPU accelerator,
/// which simulates an NVIDIA device (warp 32). Keep shapes tiny when running through it.
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
