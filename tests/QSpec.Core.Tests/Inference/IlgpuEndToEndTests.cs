using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Speculative;

namespace QSpec.Core.Tests.Inference;

/// <summary>The whole forward on ILGPU kernels (ILGPU's CPU accelerator here; CUDA on a GPU) against the CPU backend.</summary>
public class IlgpuEndToEndTests
{
    private const int Tokens = 64;

    [Theory]
    [InlineData(BackendKind.IlgpuCpu)]
    public void GreedyW4A16AndQSpecEqualTheCpuBackend(BackendKind kind)
    {
        int[] prompt = [TestData.Bos];
        using var cpu = LlamaModel.Create(TestData.Stories260KInt4);
        using var cpuSession = cpu.CreateSession();
        var expected = new Generator(cpuSession).Generate(prompt, new GenerationOptions { MaxTokens = Tokens, Mode = ExecutionMode.W4A16 }).ToArray();

        using var backend = BackendFactory.Create(kind);
        using var model = LlamaModel.Create(TestData.Stories260KInt4, backend);
        using var session = model.CreateSession();
        var w4a16 = new Generator(session).Generate(prompt, new GenerationOptions { MaxTokens = Tokens, Mode = ExecutionMode.W4A16 }).ToArray();
        var qspec = new SpeculativeDecoder(session, new SpeculativeOptions { DraftLength = 3, MaxTokens = Tokens }).Generate(prompt).ToArray();
        Assert.Equal(expected, w4a16);
        Assert.Equal(expected, qspec);
    }
}
