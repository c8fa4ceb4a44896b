using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Causal grouped-query attention over the device KV cache, one warp per (query row, head).
/// </summary>
/// <remarks>
/// <para>Pass 1: lanes take positions t = lane, lane + 32, …; each computes q·k_t sequentially over the head (the
/// reference's order), scales it and writes it to a global scratch row; a warp max follows. Pass 2: e_t = exp(s_t − max)
/// in place and a warp sum. Pass 3: lanes take head dimensions and accumulate p_t · v_t over ascending t (the
/// reference's order). Differences from the reference: the exp sum is a tree reduction and the device exp is
/// ex2.approx-based on CUDA, hence the tolerance. Batch invariant: a row's work does not depend on the other rows.</para>
/// </remarks>
internal static class AttentionKernel
{
    /// <summary>The kernel (explicitly grouped, one warp per group, grid rows · heads).</summary>
    public static void Run<TCache>(ArrayView<float> q, TCache keys, TCache values, ArrayView<float> scratch,
                                   ArrayView<float> output, AttentionShape s)
        where TCache : struct, ICacheView
    {
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize;
        int item = Grid.IdxX;
        int r = item / s.Heads, h = item % s.Heads;
        int len = s.Start + r + 1, kvDim = s.KvHeads * s.HeadSize;
        int kvOff = h / (s.Heads / s.KvHeads) * s.HeadSize;
        long qBase = (long)(s.RowOffset + r) * s.Heads * s.HeadSize + h * s.HeadSize;
        long sBase = (long)item * s.ScratchStride;

        float max = float.NegativeInfinity;
        for (int t = lane; t < len; t += warpSize)
        {
            long kBase = s.LayerOffset + (long)t * kvDim + kvOff;
            float dot = 0f;
            for (int i = 0; i < s.HeadSize; i++) dot += q[qBase + i] * keys.Load(kBase + i);
            float score = dot * s.Scale;
            scratch[sBase + t] = score;
            max = MathF.Max(max, score);
        }
        max = WarpMax(max);

        float sum = 0f;
        for (int t = lane; t < len; t += warpSize)
        {
            float e = MathF.Exp(scratch[sBase + t] - max);
            scratch[sBase + t] = e;
            sum += e;
        }
        sum = WarpSum(sum);
        float inv = 1f / sum;
        MemoryFence.DeviceLevel();
        Group.Barrier(); // the scratch row written by all lanes is read by all lanes below

        for (int i = lane; i < s.HeadSize; i += warpSize)
        {
            float o = 0f;
            for (int t = 0; t < len; t++)
                o += scratch[sBase + t] * inv * values.Load(s.LayerOffset + (long)t * kvDim + kvOff + i);
            output[qBase + i] = o;
        }
    }
}
