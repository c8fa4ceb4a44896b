using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Kernels.Tests;

public class CpuWorkerPoolTests
{
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(17, 2, 1)]
    [InlineData(1025, 2, 4)]
    [InlineData(1025, 3, 4)]
    [InlineData(3, 3, 4)]
    public void For_CoversEveryIndexOnceInAlignedRanges(int count, int threads, int align)
    {
        using var pool = new CpuWorkerPool(threads);
        for (int job = 0; job < 50; job++) // repeated jobs exercise the generation hand-off
        {
            var hits = new int[count];
            pool.For(count, threads, align, (start, end) =>
            {
                Assert.Equal(0, start % align);
                Assert.True(end == count || end % align == 0, $"range end {end} is not aligned to {align}");
                for (int i = start; i < end; i++) Interlocked.Increment(ref hits[i]);
            });
            Assert.All(hits, h => Assert.Equal(1, h));
        }
    }

    [Fact]
    public void For_RethrowsAWorkersException()
    {
        using var pool = new CpuWorkerPool(2);
        var e = Assert.Throws<AggregateException>(() => pool.For(8, 2, 1, (start, _) =>
        {
            if (start > 0) throw new InvalidOperationException("worker part");
        }));
        Assert.IsType<InvalidOperationException>(e.InnerException);
        int calls = 0;
        pool.For(8, 2, 1, (_, _) => Interlocked.Increment(ref calls)); // the pool still works afterwards
        Assert.Equal(2, calls);
    }

    [Fact]
    public void For_FromTwoCallersAtOnce_RunsBothJobs()
    {
        using var pool = new CpuWorkerPool(2);
        var sums = new long[2];
        Parallel.For(0, 2, c =>
        {
            for (int job = 0; job < 200; job++)
                pool.For(64, 2, 1, (start, end) => { for (int i = start; i < end; i++) Interlocked.Add(ref sums[c], i); });
        });
        Assert.Equal(200L * (63 * 64 / 2), sums[0]);
        Assert.Equal(200L * (63 * 64 / 2), sums[1]);
    }
}
