using System.Diagnostics;
using QSpec.Inference;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `decodeloop [shape or model file] [threads] [mode] [seconds] [position] [tokens=1]`: forwards of <c>tokens</c> tokens (one: the decode; more: the rows of a verify) of a synthetic model in one mode at a
/// fixed position, repeated for a while, so that a profiler attached to the process (perf record) sees only the decode
/// forward; prints the median ms. The forward is the one `qspec bench` times, through the default CPU backend.
/// </summary>
public static class DecodeLoop
{
    public static void Run(TextWriter o, string shape, int threads, ExecutionMode mode, double seconds, int position, int tokens = 1)
    {
        // A path (e.g. the GGUF of compare-llama-cpp.sh) is read as a model file; anything else names a synthetic shape.
        var weights = File.Exists(shape) ? QSpec.Model.ModelFiles.Read(shape).Weights : SyntheticModel.Create(SyntheticModel.Shape(shape));
        var config = weights.Config;
        using var model = LlamaModel.Create(weights, new CpuBackend(new CpuBackendOptions { MaxThreads = threads }));
        using var session = model.CreateSession();
        var context = Enumerable.Range(0, position).Select(i => 1 + i % (config.VocabSize - 1)).ToArray();
        if (context.Length > 0) session.Prefill(context, 0, ExecutionMode.W4A16);
        int[] batch = Enumerable.Repeat(5, tokens).ToArray();
        o.WriteLine($"{shape}, {threads} threads, {mode} {tokens}-token forwards at position {position} for {seconds} s (pid {Environment.ProcessId})");
        o.Flush();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds)
        {
            long start = Stopwatch.GetTimestamp();
            session.Prefill(batch, position, mode);
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        times.Sort();
        double P(double q) => times[(int)(q * (times.Count - 1))];
        o.WriteLine($"  {times.Count} forwards, ms: best {times[0]:F2}, p10 {P(0.1):F2}, p25 {P(0.25):F2}, median {P(0.5):F2}, p75 {P(0.75):F2}, p90 {P(0.9):F2}, worst {times[^1]:F2}");
    }
}
