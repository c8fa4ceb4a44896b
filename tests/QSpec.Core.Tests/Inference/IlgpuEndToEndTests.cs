using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Speculative;

namespace QSpec.Core.Tests.Inference;

/// <summary>The whole forward on ILGPU kernels (ILGPU's CPU accelerator, and CUDA on a GPU) against the CPU backend.</summary>
public class IlgpuEndToEndTests
{
    private const int Tokens = 64;

    /// <summary>
    /// ILGPU's CPU accelerator always; CUDA when a device is present, or always under QSPEC_REQUIRE_CUDA=1 (then a
    /// machine without a GPU fails the CUDA case instead of leaving it out).
    /// </summary>
    public static TheoryData<BackendKind> Kinds
    {
        get
        {
            var data = new TheoryData<BackendKind> { BackendKind.IlgpuCpu };
            if (Environment.GetEnvironmentVariable("QSPEC_REQUIRE_CUDA") == "1" || BackendFactory.CudaDeviceCount() > 0)
                data.Add(BackendKind.Cuda);
            return data;
        }
    }

    [Theory, MemberData(nameof(Kinds))]
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

    /// <summary>
    /// Greedy QSpec keeps its drafts on the device: a step waits for the device twice (all k drafts in one download, then
    /// the verify's argmax rows), not k + 1 times. Counted on the backend; the tokens still equal plain W4A16.
    /// </summary>
    [Theory, MemberData(nameof(Kinds))]
    public void GreedyQSpecStep_WaitsForTheDeviceTwice(BackendKind kind)
    {
        int[] prompt = [TestData.Bos, 403, 261];
        using var backend = BackendFactory.Create(kind);
        var device = Assert.IsType<QSpec.Kernels.Backends.Ilgpu.IlgpuBackend>(backend);
        using var model = LlamaModel.Create(TestData.Stories260KInt4, backend);
        using var session = model.CreateSession();
        var w4a16 = new Generator(session).Generate(prompt, new GenerationOptions { MaxTokens = Tokens, Mode = ExecutionMode.W4A16 }).ToArray();
        var decoder = new SpeculativeDecoder(session, new SpeculativeOptions { DraftLength = 4, MaxTokens = Tokens });
        long syncs = device.HostSyncs;
        var qspec = decoder.Generate(prompt).ToArray();
        syncs = device.HostSyncs - syncs;
        Assert.Equal(w4a16, qspec);
        Assert.True(decoder.Statistics.Drafted >= 3 * decoder.Statistics.Steps, $"{decoder.Statistics.Drafted} drafts in {decoder.Statistics.Steps} steps");
        // The prefill's first token (1), then 2 per step; the host loop waited 1 + (k + 1) per step.
        Assert.True(syncs <= 1 + 2 * decoder.Statistics.Steps, $"{syncs} host syncs for {decoder.Statistics.Steps} steps");
    }

    /// <summary>
    /// <see cref="LlamaModel"/> is thread-safe to share: sessions on several threads at once (each with its own prompt,
    /// mode and KV cache) produce what they produce one after another. The backend's reusable buffers (token ids,
    /// positions, attention scratch, RoPE table, argmax result) are shared, so this fails without its lock.
    /// </summary>
    [Theory, MemberData(nameof(Kinds))]
    public void SessionsOnSeveralThreads_EqualSequentialRuns(BackendKind kind)
    {
        const int threads = 3, tokens = 8;
        int[][] prompts = [[TestData.Bos], [TestData.Bos, 403, 261], [TestData.Bos, 80, 300, 410, 7]];
        ExecutionMode[] modes = [ExecutionMode.W4A16, ExecutionMode.W4A8, ExecutionMode.W4A16];
        using var backend = BackendFactory.Create(kind);
        using var model = LlamaModel.Create(TestData.Stories260KInt4, backend);
        int[] Run(int t)
        {
            using var session = model.CreateSession();
            return new Generator(session).Generate(prompts[t], new GenerationOptions { MaxTokens = tokens, Mode = modes[t] }).ToArray();
        }
        var sequential = Enumerable.Range(0, threads).Select(Run).ToArray();

        var concurrent = new int[threads][];
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            try { concurrent[t] = Run(t); }
            catch (Exception e) { errors.Enqueue(e); }
        })).ToArray();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();
        Assert.Empty(errors);
        for (int t = 0; t < threads; t++) Assert.Equal(sequential[t], concurrent[t]);
    }
}
