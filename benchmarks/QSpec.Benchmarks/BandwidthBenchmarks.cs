using BenchmarkDotNet.Attributes;

namespace QSpec.Benchmarks;

/// <summary>
/// Streaming-read bandwidth of ordinary pinned memory (the ceiling for a memory-bound W4A16 M = 1 kernel):
/// sums a <see cref="Roofline.StreamBytes"/> array (at least 256 MiB, twice the last-level cache) with independent vector accumulators, on one thread or split over all cores.
/// </summary>
[Config(typeof(ThroughputColumns.Config))]
public class BandwidthBenchmarks
{
    private float[] _data = [];

    /// <summary>Threads reading (1 or all).</summary>
    [Params(1, 0)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = GC.AllocateUninitializedArray<float>(Roofline.StreamBytes / sizeof(float), pinned: true);
        _data.AsSpan().Fill(1f);
    }

    [Benchmark]
    public float StreamRead() => Roofline.Read(_data, Threads == 0 ? Environment.ProcessorCount : Threads);
}
