using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;

namespace QSpec.Benchmarks;

/// <summary>
/// Streaming-read bandwidth of ordinary pinned memory (the ceiling for a memory-bound W4A16 M = 1 kernel):
/// sums a 256 MiB array with independent vector accumulators, on one thread or split over all cores.
/// </summary>
[Config(typeof(ThroughputColumns.Config))]
public class BandwidthBenchmarks
{
    /// <summary>Bytes read per call.</summary>
    public const int Bytes = 256 << 20;
    private float[] _data = [];

    /// <summary>Threads reading (1 or all).</summary>
    [Params(1, 0)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = GC.AllocateUninitializedArray<float>(Bytes / sizeof(float), pinned: true);
        _data.AsSpan().Fill(1f);
    }

    [Benchmark]
    public float StreamRead() => Read(_data, Threads == 0 ? Environment.ProcessorCount : Threads);

    /// <summary>Sums <paramref name="data"/> in <paramref name="threads"/> contiguous parts.</summary>
    public static float Read(float[] data, int threads)
    {
        if (threads == 1) return Sum(data);
        var parts = new float[threads];
        Parallel.For(0, threads, t =>
        {
            int len = data.Length / threads;
            parts[t] = Sum(data.AsSpan(t * len, len));
        });
        return parts.Sum();
    }

    private static float Sum(ReadOnlySpan<float> x)
    {
        Vector256<float> a = default, b = default, c = default, d = default;
        int i = 0;
        for (; i + 32 <= x.Length; i += 32)
        {
            a += Vector256.Create(x.Slice(i, 8));
            b += Vector256.Create(x.Slice(i + 8, 8));
            c += Vector256.Create(x.Slice(i + 16, 8));
            d += Vector256.Create(x.Slice(i + 24, 8));
        }
        return Vector256.Sum(a + b + c + d);
    }
}
