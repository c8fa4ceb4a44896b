using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// RMSNorm then per-token activation quantization of the normalized row, in one kernel (one warp per row): the
/// <see cref="RmsNormKernel"/> arithmetic for y, the <see cref="ActivationQuantKernel"/> arithmetic for q, so the pair
/// equals the two kernels bit for bit.
/// </summary>
/// <remarks>
/// The quantizer reads y in another lane order than the norm writes it; instead of a memory fence between the two,
/// each lane recomputes the y values it quantizes (the same product of the same operands, so the same bits). The
/// absmax is taken over the y values as they are written (a max is order-free).
/// </remarks>
internal static class RmsNormQuantizeKernel
{
    /// <summary>The kernel (explicitly grouped, one warp per group, grid M).</summary>
    public static void Run(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> y, int dim, float eps,
                           ArrayView<int> q, ArrayView<float> scales, int paddedColumns, int qmax)
    {
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize;
        int m = Grid.IdxX;
        long row = (long)m * dim, qRow = (long)m * (paddedColumns / 4);
        float ss = 0f;
        for (int i = lane; i < dim; i += warpSize) ss += x[row + i] * x[row + i];
        ss = WarpSum(ss);
        float norm = 1f / MathF.Sqrt(ss / dim + eps);
        float absMax = 0f;
        for (int i = lane; i < dim; i += warpSize)
        {
            float v = Normalized(x, weight, row, i, norm);
            y[row + i] = v;
            absMax = MathF.Max(absMax, MathF.Abs(v));
        }
        absMax = WarpMax(absMax);
        float inv = absMax == 0f ? 0f : qmax / absMax;
        for (int j = lane; j < paddedColumns / 4; j += warpSize)
        {
            int word = 0;
            for (int t = 0; t < 4; t++)
            {
                int c = 4 * j + t;
                if (c >= dim || absMax == 0f) continue;
                int v = (int)RoundEven(Mul(Normalized(x, weight, row, c, norm), inv));
                v = Math.Max(-qmax, Math.Min(qmax, v));
                word |= (v & 0xFF) << (8 * t);
            }
            q[qRow + j] = word;
        }
        if (lane == 0) scales[m] = absMax == 0f ? 0f : absMax / qmax;
    }

    /// <summary>y[i] of the row, as <see cref="RmsNormKernel"/> computes it.</summary>
    private static float Normalized(ArrayView<float> x, ArrayView<float> weight, long row, int i, float norm) =>
        weight[i] * (norm * x[row + i]);
}
