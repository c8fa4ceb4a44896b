using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// RMSNorm fused with the per-token activation quantization (the draft modes' norm before an integer linear): per row,
/// the sum of squares, then one pass that writes y = (x · inv) · w and keeps its absmax, then the codes from y while
/// it is still in L1. Bit for bit <see cref="ElementwiseKernels.RmsNorm"/> followed by
/// <see cref="ActivationQuantizer.Quantize"/>: the same <see cref="SimdMath.Dot"/>, the same two correctly rounded
/// multiplies per element (TensorPrimitives.Multiply does no fusing), and max, which is exact in any order.
/// </summary>
internal static class RmsNormQuantize
{
    /// <summary>Y[M, dim] = rmsnorm(X) with <paramref name="weight"/>, and <paramref name="q"/> = its quantization.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int rows, int dim, float eps, int bits,
                           CpuQuantizedActivations q, bool vector)
    {
        if (!vector || !Vector256.IsHardwareAccelerated)
        {
            // The portable path is the composition itself (the reference RMSNorm's order differs from SimdMath's).
            ElementwiseKernels.RmsNorm(x, weight, y, rows, dim, eps, vector);
            ActivationQuantizer.Quantize(y, rows, dim, bits, q, vector);
            return;
        }
        var w = weight[..dim];
        for (int m = 0; m < rows; m++)
        {
            var xr = x.Slice(m * dim, dim);
            var yr = y.Slice(m * dim, dim);
            float ss = SimdMath.Dot(xr, xr);
            float inv = 1f / MathF.Sqrt(ss / dim + eps);
            float absMax = NormalizeRow(xr, w, inv, yr);
            ActivationQuantizer.QuantizeRow(yr, absMax, bits, q, m, simd: true);
        }
    }

    /// <summary>y = (x · inv) · w per element; returns max |y|.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float NormalizeRow(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float inv, Span<float> y)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float pw = ref MemoryMarshal.GetReference(w);
        ref float py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        var vi = Vector256.Create(inv);
        Vector256<float> a0 = default, a1 = default;
        for (; i + 16 <= n; i += 16)
        {
            var y0 = Vector256.LoadUnsafe(ref px, (nuint)i) * vi * Vector256.LoadUnsafe(ref pw, (nuint)i);
            var y1 = Vector256.LoadUnsafe(ref px, (nuint)i + 8) * vi * Vector256.LoadUnsafe(ref pw, (nuint)i + 8);
            y0.StoreUnsafe(ref py, (nuint)i);
            y1.StoreUnsafe(ref py, (nuint)i + 8);
            a0 = Vector256.Max(a0, Vector256.Abs(y0));
            a1 = Vector256.Max(a1, Vector256.Abs(y1));
        }
        var acc = Vector256.Max(a0, a1);
        float absMax = 0f;
        for (int l = 0; l < 8; l++) absMax = MathF.Max(absMax, acc.GetElement(l));
        for (; i < n; i++)
        {
            float v = x[i] * inv * w[i];
            y[i] = v;
            absMax = MathF.Max(absMax, MathF.Abs(v));
        }
        return absMax;
    }
}
