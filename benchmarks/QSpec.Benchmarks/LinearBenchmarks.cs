using BenchmarkDotNet.Attributes;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// W4A16 vs W4A4 vs W4A8 linear ops on the CPU backend over the Llama projection shapes and M = 1..32.
/// Integer modes include the per-token activation quantization, as in a real layer.
/// The WeightGB/s and GOP/s columns come from <see cref="ThroughputColumns"/>.
/// </summary>
[Config(typeof(ThroughputColumns.Config))]
public class LinearBenchmarks
{
    private CpuBackend? _backend;
    private LinearCase? _case;

    /// <summary>N×K, e.g. "5632x2048".</summary>
    [ParamsSource(nameof(ShapeNames))]
    public string Shape { get; set; } = "768x288";

    /// <summary>Tokens per call.</summary>
    [ParamsSource(nameof(MValues))]
    public int M { get; set; } = 1;

    /// <summary>The mode.</summary>
    [ParamsAllValues]
    public LinearKind Kind { get; set; }

    /// <summary>All shapes as strings.</summary>
    public static IEnumerable<string> ShapeNames => LinearCase.Shapes.Select(s => $"{s.N}x{s.K}");
    /// <summary>All batch sizes.</summary>
    public static IEnumerable<int> MValues => LinearCase.Ms;

    [GlobalSetup]
    public void Setup()
    {
        var parts = Shape.Split('x');
        _backend = new CpuBackend();
        _case = new LinearCase(_backend, int.Parse(parts[0]), int.Parse(parts[1]), M, Kind);
    }

    [Benchmark]
    public void Linear() => _case!.QuantizeAndLinear();

    [GlobalCleanup]
    public void Cleanup()
    {
        _case?.Dispose();
        _backend?.Dispose();
    }
}
