using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Causal grouped-query attention over the device KV cache: one thread group per (query row, head), its warps splitting
/// the positions (split-K flash decoding inside the group), no global scratch and no device fence.
/// </summary>
/// <remarks>
/// <para>Warp w of W takes the contiguous positions [w·c, min(len, (w + 1)·c)), c = ceil(len / W), and walks them in
/// order with an online softmax: lanes own head dimensions i = lane, lane + 32, …; per position the warp sums q·k_t
/// (each lane's dimensions in ascending order, then the butterfly), then with m' = max(m, s_t):
/// l = l·e^(m − m') + e^(s_t − m'), o_i = o_i·e^(m − m') + e^(s_t − m')·v_t,i. Each warp's (m, l, o) lives in its own
/// slice of shared memory; after one group barrier, the group's threads combine the warps in ascending order:
/// out_i = Σ_w o_w,i·e^(m_w − M) / Σ_w l_w·e^(m_w − M), M = max_w m_w.</para>
/// <para>Differences from the reference (max first, then Σ e·v / Σ e): the rescalings and the reordered sums, and
/// ex2.approx-based exp on CUDA, hence the tolerance. Batch invariant: a row's split depends only on its own length
/// and the launch shape, never on M or the other rows.</para>
/// </remarks>
internal static class AttentionKernel
{
    /// <summary>Largest head size the shared slices hold.</summary>
    public const int MaxHeadSize = 256;
    /// <summary>Warps per group (fewer where the device's groups hold fewer warps).</summary>
    public const int MaxWarps = 4;
    private const int Slice = MaxHeadSize + 2; // m, l, o[0 .. headSize)

    /// <summary>The kernel (explicitly grouped: group = warps · warp size, grid rows · heads).</summary>
    public static void Run<TCache>(ArrayView<float> q, TCache keys, TCache values, ArrayView<float> output, AttentionShape s)
        where TCache : struct, ICacheView
    {
        var shared = SharedMemory.Allocate<float>(MaxWarps * Slice);
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize, warp = Warp.WarpIdx;
        int warps = Group.DimX / warpSize;
        int item = Grid.IdxX;
        int r = item / s.Heads, h = item % s.Heads;
        int len = s.Start + r + 1, kvDim = s.KvHeads * s.HeadSize;
        int kvOff = h / (s.Heads / s.KvHeads) * s.HeadSize;
        long qBase = (long)(s.RowOffset + r) * s.Heads * s.HeadSize + h * s.HeadSize;
        int chunk = (len + warps - 1) / warps;
        int t0 = warp * chunk, t1 = Math.Min(len, t0 + chunk);
        int o = warp * Slice + 2;

        for (int i = lane; i < s.HeadSize; i += warpSize) shared[o + i] = 0f;
        float m = float.NegativeInfinity, l = 0f;
        for (int t = t0; t < t1; t++)
        {
            long kv = s.LayerOffset + (long)t * kvDim + kvOff;
            float partial = 0f;
            for (int i = lane; i < s.HeadSize; i += warpSize) partial += q[qBase + i] * keys.Load(kv + i);
            float score = WarpSum(partial) * s.Scale;
            float mNew = MathF.Max(m, score);
            float correction = MathF.Exp(m - mNew); // 0 at the first position (m = −∞)
            float p = MathF.Exp(score - mNew);
            l = l * correction + p;
            for (int i = lane; i < s.HeadSize; i += warpSize) shared[o + i] = shared[o + i] * correction + p * values.Load(kv + i);
            m = mNew;
        }
        if (lane == 0)
        {
            shared[o - 2] = m; // −∞ and l = 0 for a warp whose chunk is empty: it adds nothing below
            shared[o - 1] = l;
        }
        Group.Barrier();

        float max = float.NegativeInfinity;
        for (int w = 0; w < warps; w++) max = MathF.Max(max, shared[w * Slice]);
        float sum = 0f;
        for (int w = 0; w < warps; w++) sum += shared[w * Slice + 1] * MathF.Exp(shared[w * Slice] - max);
        float inv = 1f / sum;
        for (int i = Group.IdxX; i < s.HeadSize; i += Group.DimX)
        {
            float acc = 0f;
            for (int w = 0; w < warps; w++) acc += shared[w * Slice + 2 + i] * MathF.Exp(shared[w * Slice] - max);
            output[qBase + i] = acc * inv;
        }
    }
}
