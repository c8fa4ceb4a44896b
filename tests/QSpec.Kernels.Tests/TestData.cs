using QSpec.Kernels.Backends;

namespace QSpec.Kernels.Tests;

/// <summary>Deterministic random inputs and backend buffer helpers for the kernel tests.</summary>
internal static class TestData
{
    /// <summary>Uniform floats in [-scale, scale) from a fixed seed.</summary>
    public static float[] Floats(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>A backend buffer holding <paramref name="data"/>.</summary>
    public static DeviceBuffer Upload(IBackend backend, float[] data)
    {
        var b = backend.Allocate(data.Length);
        backend.Upload(data, b);
        return b;
    }

    /// <summary>The first <paramref name="count"/> elements of <paramref name="buffer"/>.</summary>
    public static float[] Download(IBackend backend, DeviceBuffer buffer, int count)
    {
        backend.Synchronize();
        var a = new float[count];
        backend.Download(buffer, a);
        return a;
    }

    /// <summary>Asserts |actual − expected| ≤ tol·scale[i] + tiny for every element, naming the first bad index.</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tol, ReadOnlySpan<float> scale = default)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float bound = tol * (scale.IsEmpty ? MathF.Max(1f, MathF.Abs(expected[i])) : scale[i]) + 1e-30f;
            if (!(MathF.Abs(actual[i] - expected[i]) <= bound))
                Assert.Fail($"Element {i}: expected {expected[i]:R}, got {actual[i]:R} (bound {bound:R}).");
        }
    }

    /// <summary>Asserts bitwise equality, naming the first differing index.</summary>
    public static void AssertBitwise(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"Element {i}: expected {expected[i]:R}, got {actual[i]:R}.");
    }
}
