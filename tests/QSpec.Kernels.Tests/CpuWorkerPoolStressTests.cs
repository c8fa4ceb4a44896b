using System.Diagnostics;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The pool's hand-off under preemption: more workers than cores, worker parts that outlast the caller's spin (so it
/// blocks on the done event) mixed with instant ones (so the last worker's Set can land after the next job's Reset).
/// Every part must have finished when <see cref="CpuWorkerPool.For"/> returns, and no job may see another's body.
/// </summary>
public class CpuWorkerPoolStressTests
{
    private static readonly int Jobs = int.TryParse(Environment.GetEnvironmentVariable("QSPEC_POOL_STRESS_JOBS"), out int j) ? j : 3000;

    [Fact]
    public void For_ReturnsOnlyAfterEveryPart_UnderPreemption()
    {
        int threads = Math.Max(4, 4 * Environment.ProcessorCount);
        using var pool = new CpuWorkerPool(threads);
        long slow = Stopwatch.Frequency / 2000; // 0.5 ms: past the caller's 0.25 ms spin
        var finished = new int[threads];
        for (int job = 0; job < Jobs; job++)
        {
            Array.Clear(finished);
            bool longJob = job % 3 == 0;
            int expected = job;
            pool.For(threads, threads, 1, (start, end) =>
            {
                if (start > 0 && longJob)
                {
                    long until = Stopwatch.GetTimestamp() + slow;
                    while (Stopwatch.GetTimestamp() < until) Thread.SpinWait(20);
                }
                for (int i = start; i < end; i++) Volatile.Write(ref finished[i], expected + 1);
            });
            for (int i = 0; i < threads; i++)
                Assert.True(Volatile.Read(ref finished[i]) == job + 1, $"job {job}: part {i} had not finished when For returned");
        }
    }
}
