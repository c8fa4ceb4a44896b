using System.Numerics.Tensors;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Vectorized RMSNorm, SwiGLU, residual add and argmax. Reductions use <see cref="SimdMath"/>'s fixed order per row;
/// elementwise results are correctly rounded per element (equal to the reference) except SwiGLU's vector exp.
/// </summary>
internal static class ElementwiseKernels
{
    /// <summary>Y[m, :] = w · (X[m, :] / sqrt(mean(X[m, :]²) + eps)).</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int rows, int dim, float eps, bool vector)
    {
        if (!vector) { ElementwiseReference.RmsNorm(x, weight, y, rows, dim, eps); return; }
        for (int m = 0; m < rows; m++)
        {
            var xr = x.Slice(m * dim, dim);
            var yr = y.Slice(m * dim, dim);
            float ss = SimdMath.Dot(xr, xr);
            float inv = 1f / MathF.Sqrt(ss / dim + eps);
            TensorPrimitives.Multiply(xr, inv, yr);
            TensorPrimitives.Multiply(yr, weight[..dim], yr);
        }
    }

    /// <summary>gate = silu(gate) · up.</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up, bool vector)
    {
        if (vector) SimdMath.Map<SwiGluMap>(gate, up);
        else ElementwiseReference.SwiGlu(gate, up);
    }

    /// <summary>x += delta (exact per element on every path).</summary>
    public static void Add(Span<float> x, ReadOnlySpan<float> delta, bool vector)
    {
        if (vector) TensorPrimitives.Add(x, delta, x);
        else ElementwiseReference.Add(x, delta);
    }

    /// <summary>Index of the first maximum (finite inputs): the vector maximum, then the first element equal to it.</summary>
    public static int Argmax(ReadOnlySpan<float> x, bool vector)
    {
        if (!vector) return ElementwiseReference.Argmax(x);
        float max = SimdMath.Max(x);
        int i = x.IndexOf(max);
        return i < 0 ? ElementwiseReference.Argmax(x) : i;
    }
}
