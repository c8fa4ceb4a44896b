using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Per-token symmetric activation quantization with exactly the semantics of
/// <see cref="Ops.ActivationQuantReference.Quantize"/>: one warp per row; absmax by a warp max (order-free);
/// inv = qmax / absmax; q = clamp(round_even(x · inv), -qmax, qmax) with mul.rn and cvt.rni on CUDA; four values
/// packed per word; padding zero.
/// </summary>
internal static class ActivationQuantKernel
{
    /// <summary>The kernel (explicitly grouped, one warp per group, grid M).</summary>
    public static void Run(ArrayView<float> x, ArrayView<int> q, ArrayView<float> scales, int columns, int paddedColumns, int qmax)
    {
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize;
        int m = Grid.IdxX;
        long xRow = (long)m * columns, qRow = (long)m * (paddedColumns / 4);
        float absMax = 0f;
        for (int k = lane; k < columns; k += warpSize) absMax = MathF.Max(absMax, MathF.Abs(x[xRow + k]));
        absMax = WarpMax(absMax);
        float inv = absMax == 0f ? 0f : qmax / absMax;
        for (int j = lane; j < paddedColumns / 4; j += warpSize)
        {
            int word = 0;
            for (int t = 0; t < 4; t++)
            {
                int c = 4 * j + t;
                if (c >= columns || absMax == 0f) continue;
                int v = (int)RoundEven(Mul(x[xRow + c], inv));
                v = Math.Max(-qmax, Math.Min(qmax, v));
                word |= (v & 0xFF) << (8 * t);
            }
            q[qRow + j] = word;
        }
        if (lane == 0) scales[m] = absMax == 0f ? 0f : absMax / qmax;
    }
}
