using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Core.Tests.Inference;

/// <summary>
/// A warm decode step on the CPU backend allocates nothing: no closure per linear call (the drivers reuse their
/// channel jobs), no delegate per lazily built weight view, no buffer per op. On a small model (stories260K decodes a
/// token in ~0.1 ms) per-token allocations are a fixed cost and GC pauses between tokens. One thread, so every op runs
/// on the calling thread, which is the one GC.GetAllocatedBytesForCurrentThread counts.
/// </summary>
public class DecodeAllocationTests
{
    [Theory]
    [InlineData(ExecutionMode.Fp32, KvPrecision.Float32)]
    [InlineData(ExecutionMode.Fp32, KvPrecision.Float16)]
    [InlineData(ExecutionMode.W4A16, KvPrecision.Float32)]
    [InlineData(ExecutionMode.W4A8, KvPrecision.Float32)]
    [InlineData(ExecutionMode.W4A4, KvPrecision.Float32)]
    public void WarmDecodeStep_AllocatesNothing(ExecutionMode mode, KvPrecision kv)
    {
        using var backend = new CpuBackend(new CpuBackendOptions { MaxThreads = 1 });
        using var model = LlamaModel.Create(TestData.Stories260KInt4, backend);
        using var session = model.CreateSession(new SessionOptions { KvPrecision = kv });
        // On a fresh thread: its thread-static scratch starts empty, so scratch sized by the context that were regrown
        // as the context grows (once per token) shows, instead of hiding behind scratch an earlier test left larger.
        long allocated = OnFreshThread(() =>
        {
            session.Prefill([TestData.Bos], 0, mode);
            for (int i = 0; i < 40; i++) Step(session, mode); // warm: lazy weight views, scratch, JIT
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 8; i++) Step(session, mode);
            return GC.GetAllocatedBytesForCurrentThread() - before;
        });
        Assert.True(allocated == 0, $"{mode}, {kv} KV: 8 warm decode steps allocated {allocated} bytes");
    }

    public static TheoryData<string> SamplingCases => ["greedy", "top-k top-p", "min-p penalties"];

    [Theory, MemberData(nameof(SamplingCases))]
    public void Generator_AllocatesNothingPerToken(string sampling)
    {
        using var backend = new CpuBackend(new CpuBackendOptions { MaxThreads = 1 });
        using var model = LlamaModel.Create(TestData.Stories260K, backend);
        using var session = model.CreateSession();
        var options = new GenerationOptions
        {
            MaxTokens = 100, Mode = ExecutionMode.Fp32, StopTokens = [],
            Sampling = sampling switch
            {
                "greedy" => new SamplingOptions(),
                "top-k top-p" => new SamplingOptions { Temperature = 0.8f, TopK = 40, TopP = 0.9f, Seed = 1 },
                _ => new SamplingOptions { Temperature = 1f, MinP = 0.05f, RepetitionPenalty = 1.1f, FrequencyPenalty = 0.1f, Seed = 2 },
            },
        };
        long allocated = OnFreshThread(() =>
        {
            using var tokens = new Generator(session).Generate([TestData.Bos], options).GetEnumerator();
            for (int i = 0; i < 40; i++) Assert.True(tokens.MoveNext());
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 8; i++) Assert.True(tokens.MoveNext());
            return GC.GetAllocatedBytesForCurrentThread() - before;
        });
        Assert.True(allocated == 0, $"{sampling}: 8 tokens allocated {allocated} bytes");
    }

    private static long OnFreshThread(Func<long> body)
    {
        long result = -1;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try { result = body(); }
            catch (Exception e) { error = e; }
        });
        thread.Start();
        thread.Join();
        if (error is not null) throw new InvalidOperationException("The decode thread failed.", error);
        return result;
    }

    private static void Step(InferenceSession session, ExecutionMode mode)
        => session.Prefill([session.Argmax()], session.Length, mode);
}
