using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Dense float32 linear (reference mode): one warp per output channel n, looping over the M rows; lanes stride K,
/// then a warp reduction. Batch invariant; the order differs from the reference's ascending sum (tolerance).
/// </summary>
internal static class LinearF32Kernel
{
    /// <summary>The kernel (explicitly grouped, one warp per group, grid N).</summary>
    public static void Run(ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, LinearShape s)
    {
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize;
        int n = Grid.IdxX;
        if (n >= s.N) return;
        long wRow = (long)n * s.K;
        for (int m = 0; m < s.Rows; m++)
        {
            long xRow = (long)m * s.K;
            float acc = 0f;
            for (int k = lane; k < s.K; k += warpSize) acc += x[xRow + k] * w[wRow + k];
            acc = WarpSum(acc);
            if (lane == 0) y[(long)m * s.N + n] = acc;
        }
    }
}
