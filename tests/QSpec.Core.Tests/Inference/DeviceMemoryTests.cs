using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends.Ilgpu;

namespace QSpec.Core.Tests.Inference;

/// <summary>
/// Device out-of-memory on a simulated small device (ILGPU's CPU accelerator with <see cref="IlgpuSimulatorOptions.MemoryBytes"/>):
/// a model or session that does not fit fails with <see cref="DeviceOutOfMemoryException"/> and leaves no device
/// buffer behind, and the backend stays usable.
/// </summary>
public class DeviceMemoryTests
{
    [Fact]
    public void ModelOrSessionThatDoesNotFit_ThrowsDeviceOutOfMemory_AndFreesWhatItAllocated()
    {
        var weights = TestData.Stories260KInt4;
        long empty, model, session;
        using (var probe = IlgpuBackend.CreateCpuSimulator())
        {
            empty = probe.LiveDeviceBytes;
            using var m = LlamaModel.Create(weights, probe);
            model = probe.LiveDeviceBytes - empty;
            using var s = m.CreateSession();
            session = probe.LiveDeviceBytes - empty - model;
        }
        Assert.True(model > 0 && session > 0);

        // The weights fit, a default session (64 rows of scratch) misses by one byte.
        using (var small = IlgpuBackend.CreateCpuSimulator(new IlgpuSimulatorOptions { MemoryBytes = empty + model + session - 1 }))
        {
            using var m = LlamaModel.Create(weights, small);
            long before = small.LiveDeviceBytes;
            var e = Assert.Throws<DeviceOutOfMemoryException>(() => m.CreateSession());
            Assert.Equal(empty + model + session - 1, e.DeviceBytes);
            Assert.Equal(before, small.LiveDeviceBytes);
            // Still usable: a session with one row of scratch fits and decodes.
            using var s = m.CreateSession(new SessionOptions { MaxBatchRows = 1 });
            Assert.Equal(3, new Generator(s).Generate([TestData.Bos], new GenerationOptions { MaxTokens = 3, Mode = ExecutionMode.W4A16 }).Count());
        }

        // Not even the weights fit: nothing of them stays allocated.
        using (var tiny = IlgpuBackend.CreateCpuSimulator(new IlgpuSimulatorOptions { MemoryBytes = empty + model / 2 }))
        {
            Assert.Throws<DeviceOutOfMemoryException>(() => LlamaModel.Create(weights, tiny));
            Assert.Equal(empty, tiny.LiveDeviceBytes);
        }
    }
}
