using System.Runtime.CompilerServices;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Portable float linear kernels: a row of weights is dequantized once ((u − 8)·s, as in the reference) and each
/// activation row is summed over k in ascending order, so results do not depend on M.
/// </summary>
internal static class LinearFloatScalar
{
    /// <summary>Writes row <paramref name="n"/> of dequant(W) (K floats) to <paramref name="dst"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DequantizeRow(Int4Matrix w, int n, Span<float> dst)
    {
        ReadOnlySpan<byte> row = w.Data.AsSpan(n * w.RowBytes, w.RowBytes);
        var groups = new GroupIndex(w);
        ReadOnlySpan<float> scales = w.Scales.AsSpan(n * w.GroupCount, w.GroupCount);
        for (int k = 0; k < w.Columns; k++)
        {
            int block = k >> 6, within = k & 63;
            int packed = row[block * Int4Matrix.BlockBytes + (within & 31)];
            int u = within >= 32 ? packed >> 4 : packed & 0xF;
            dst[k] = (u - Int4Matrix.NibbleOffset) * scales[groups.OfHalf(k >> 5)];
        }
    }

    /// <summary>y[m·n + j] = Σ_k x[m·k + i]·w[i] for m &lt; rows, ascending k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(ReadOnlySpan<float> x, int rows, int k, ReadOnlySpan<float> w, Span<float> y, int j, int n)
    {
        for (int m = 0; m < rows; m++)
        {
            var xr = x.Slice(m * k, k);
            float acc = 0f;
            for (int i = 0; i < k; i++) acc += xr[i] * w[i];
            y[m * n + j] = acc;
        }
    }
}
