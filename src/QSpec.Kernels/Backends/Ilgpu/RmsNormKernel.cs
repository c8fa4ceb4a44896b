using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// RMSNorm, one warp per row: Y = X · w / sqrt(mean(X²) + eps). The sum of squares is lane-strided then
/// warp-reduced (the reference sums in ascending order: tolerance).
/// </summary>
internal static class RmsNormKernel
{
    /// <summary>The kernel (explicitly grouped, one warp per group, grid M).</summary>
    public static void Run(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> y, int dim, float eps)
    {
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize;
        long row = (long)Grid.IdxX * dim;
        float ss = 0f;
        for (int i = lane; i < dim; i += warpSize) ss += x[row + i] * x[row + i];
        ss = WarpSum(ss);
        float inv = 1f / MathF.Sqrt(ss / dim + eps);
        for (int i = lane; i < dim; i += warpSize) y[row + i] = weight[i] * (inv * x[row + i]); // as RmsNormQuantizeKernel.Normalized
    }
}
