using QSpec.Kernels.Backends;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Tests;

/// <summary>The fused ops' input: float rows, plus their quantization for the integer kind.</summary>
internal sealed class FusedInput : IDisposable
{
    public required DeviceBuffer X { get; init; }
    public QuantizedActivationBuffer? Q { get; init; }

    public static FusedInput Create(IBackend backend, LinearKind kind, int bits, int m, int k, int seed)
    {
        var x = TestData.Upload(backend, TestData.Floats(m * k, seed));
        if (kind != LinearKind.Int) return new FusedInput { X = x };
        var q = backend.AllocateQuantizedActivations(m, k);
        backend.QuantizeActivations(x, m, k, bits, q);
        return new FusedInput { X = x, Q = q };
    }

    public void Dispose() { X.Dispose(); Q?.Dispose(); }
}

/// <summary>Weights and the plain-op composition the fused-op tests compare against.</summary>
internal static class FusedTestData
{
    /// <summary>A random N×K matrix of <paramref name="kind"/>: dense float32, or INT4 at group size <paramref name="g"/>.</summary>
    public static DeviceMatrix Matrix(IBackend backend, LinearKind kind, int n, int k, int g, int seed)
    {
        var values = TestData.Floats(n * k, seed);
        return kind == LinearKind.F32
            ? backend.CreateMatrix(null, values, n, k)
            : backend.CreateMatrix(Int4Matrix.Quantize(values, n, k, g), null, n, k);
    }

    /// <summary>The plain op of <paramref name="kind"/>, called directly (not through the default <see cref="IBackend.Linear"/>).</summary>
    public static void Plain(IBackend backend, LinearKind kind, FusedInput input, DeviceMatrix w, DeviceBuffer y, int m)
    {
        switch (kind)
        {
            case LinearKind.F32: backend.LinearF32(input.X, w, y, m); break;
            case LinearKind.W4A16: backend.LinearW4A16(input.X, w, y, m); break;
            default: backend.LinearInt(input.Q!, w, y, m); break;
        }
    }
}
