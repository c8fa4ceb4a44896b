using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Backends.Ilgpu;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>Backend selection, device out-of-memory and disposal of the ILGPU backend.</summary>
public sealed class BackendFactoryTests
{
    [Fact]
    public void Auto_PicksCudaWhenPresent_ElseCpu()
    {
        using var backend = BackendFactory.Create(BackendKind.Auto);
        if (BackendFactory.CudaDeviceCount() > 0) Assert.StartsWith("cuda", backend.Name);
        else Assert.IsType<CpuBackend>(backend);
    }

    [Fact]
    public void Cuda_WithoutGpu_ThrowsListingAccelerators()
    {
        if (BackendFactory.CudaDeviceCount() > 0)
        {
            using var cuda = BackendFactory.Create(BackendKind.Cuda);
            Assert.StartsWith("cuda", cuda.Name);
            return;
        }
        var e = Assert.Throws<InvalidOperationException>(() => BackendFactory.Create(BackendKind.Cuda));
        Assert.Contains("No CUDA device", e.Message);
        Assert.Contains("CPU", e.Message); // ILGPU always finds its CPU accelerator
    }

    /// <summary>Under QSPEC_REQUIRE_CUDA=1 (a run meant for a GPU) a machine without one fails here and in every CUDA case.</summary>
    [Fact]
    public void RequiredCuda_IsPresent_AndListed()
    {
        if (!TestBackends.CudaRequired) return;
        Assert.Contains("cuda", ((IEnumerable<object[]>)TestBackends.Names).Select(row => (string)row[0]));
        Assert.True(BackendFactory.CudaDeviceCount() > 0,
            $"QSPEC_REQUIRE_CUDA=1 but no CUDA device; accelerators: {string.Join(", ", BackendFactory.DescribeAccelerators())}.");
    }

    [Fact]
    public void Cpu_And_IlgpuCpu_AreWhatTheySay()
    {
        using var cpu = BackendFactory.Create(BackendKind.Cpu);
        Assert.IsType<CpuBackend>(cpu);
        using var sim = BackendFactory.Create(BackendKind.IlgpuCpu);
        var ilgpu = Assert.IsType<IlgpuBackend>(sim);
        Assert.False(ilgpu.IsCuda);
        Assert.StartsWith("ilgpu-cpu", sim.Name);
        Assert.Throws<ArgumentOutOfRangeException>(() => BackendFactory.Create((BackendKind)42));
    }

    [Fact]
    public void HugeAllocation_ThrowsDeviceOutOfMemory_AndBackendStaysUsable()
    {
        using var backend = IlgpuBackend.CreateCpuSimulator();
        var e = Assert.Throws<DeviceOutOfMemoryException>(() => backend.Allocate(1L << 50));
        Assert.Equal((1L << 50) * sizeof(float), e.RequestedBytes);
        Assert.Contains("Out of device memory", e.Message);
        using var ok = backend.Allocate(3);
        backend.Upload([1f, 2f, 3f], ok);
        var back = new float[2];
        backend.Download(ok, back, 1);
        Assert.Equal([2f, 3f], back);
        Assert.Throws<ArgumentOutOfRangeException>(() => backend.Upload([1f, 2f], ok, 2));
    }

    [Fact]
    public void SimulatedDeviceMemory_IsEnforced_AndFreedOnDispose()
    {
        using var backend = IlgpuBackend.CreateCpuSimulator(new IlgpuSimulatorOptions { MemoryBytes = 64 * 1024 });
        long baseline = backend.LiveDeviceBytes;
        var a = backend.Allocate(8 * 1024); // 32 KiB
        Assert.Equal(baseline + 32 * 1024, backend.LiveDeviceBytes);
        var e = Assert.Throws<DeviceOutOfMemoryException>(() => backend.Allocate(8 * 1024));
        Assert.Equal(32 * 1024, e.RequestedBytes);
        Assert.Equal(64 * 1024, e.DeviceBytes);
        a.Dispose();
        Assert.Equal(baseline, backend.LiveDeviceBytes);
        using var b = backend.Allocate(8 * 1024); // fits again
        Assert.Equal("MemoryBytes", Assert.Throws<ArgumentOutOfRangeException>(
            () => IlgpuBackend.CreateCpuSimulator(new IlgpuSimulatorOptions { MemoryBytes = 0 })).ParamName);
    }

    [Fact]
    public void Dispose_IsClean_InAnyOrder()
    {
        var backend = IlgpuBackend.CreateCpuSimulator();
        var buffer = backend.Allocate(4);
        var kv = backend.AllocateKv(4, KvPrecision.Float16);
        var q = backend.AllocateQuantizedActivations(1, 64);
        var m = backend.CreateMatrix(Formats.Int4Matrix.CreateZero(2, 64, 0), null, 2, 64);
        buffer.Dispose();
        backend.Dispose();
        kv.Dispose(); // after the backend: must not throw
        q.Dispose();
        m.Dispose();
        backend.Dispose();
        Assert.True(buffer.IsDisposed && kv.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => backend.Allocate(1));
    }
}
