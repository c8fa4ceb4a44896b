using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Causal grouped-query attention over the device KV caches of up to <see cref="KvSlots{TCache}.Count"/> sequences
/// (each with its own cache buffers) in one launch, one thread group per (query row, KV head, head chunk):
/// the group's query heads share every K and V element it loads (GQA K/V read once per KV head), its warps split the
/// positions (split-K flash decoding inside the group), with no global scratch and no device fence. The same kernel,
/// with <see cref="AttentionShape.Fresh"/> = 1, is also the fused RoPE + StoreKv + attention of a layer.
/// </summary>
/// <remarks>
/// <para>Heads: KV head g serves query heads g·G .. g·G + G − 1 (G = heads / kvHeads); a group takes
/// <see cref="AttentionShape.HeadsPerGroup"/> = Gc ≤ <see cref="MaxHeadsPerGroup"/> of them (G / Gc groups per KV head,
/// so large G or a small launch can spread over more groups; the arithmetic of a head does not depend on Gc).</para>
/// <para>Per head, exactly one order: warp w of W takes the contiguous positions [w·c, min(len, (w + 1)·c)),
/// c = ceil(len / W), and walks them in order with an online softmax: lanes own head dimensions i = lane, lane + 32, …;
/// per position the warp sums q·k_t (each lane's dimensions ascending, then the butterfly), then with m' = max(m, s_t):
/// l = l·e^(m − m') + e^(s_t − m'), o_i = o_i·e^(m − m') + e^(s_t − m')·v_t,i. Each warp's m, l (registers, one per head)
/// and o (its own slice of shared memory) meet after one group barrier, where the group's threads combine the warps in
/// ascending order: out_i = Σ_w o_w,i·e^(m_w − M) / Σ_w l_w·e^(m_w − M), M = max_w m_w. A row's split depends only on
/// its own length and the launch's warp count (fixed per device), never on M or the other rows: batch invariant.</para>
/// <para>Fresh (the fused op): q and k hold the call's unrotated rows. The group first rotates its own query heads of
/// its row in place (one thread per pair, so no pair is read after its partner is written; a group barrier then makes
/// them visible), and the head chunk 0 group stores its row's rotated K and V into the cache. Positions of the call
/// (t ≥ Start) are then read from k and v, rotated and rounded to the cache precision on the fly, i.e. exactly the
/// values the composition (RoPE, StoreKv, then attention from the cache) would read back, so no group waits for
/// another's store; earlier positions come from the cache. k itself is never written (other groups read it).
/// The rotation is <see cref="RopeKernel.Even"/>/<see cref="RopeKernel.Odd"/> on the same host table.</para>
/// <para>Differences from the reference (max first, then Σ e·v / Σ e): the rescalings and the reordered sums, and
/// ex2.approx-based exp on CUDA, hence the tolerance.</para>
/// </remarks>
internal static class AttentionKernel
{
    /// <summary>Query heads per group at most (the per-head m and l registers).</summary>
    public const int MaxHeadsPerGroup = Floats8.Count;
    /// <summary>Floats of o per warp: HeadsPerGroup · HeadSize must fit.</summary>
    public const int MaxOutputPerWarp = 1024;
    /// <summary>Largest head size (one head per group).</summary>
    public const int MaxHeadSize = MaxOutputPerWarp;
    /// <summary>Warps per group (fewer where the device's groups hold fewer warps).</summary>
    public const int MaxWarps = 8;
    private const int WarpSlice = 2 * MaxHeadsPerGroup + MaxOutputPerWarp; // m[8], l[8], o[Gc · headSize]

    /// <summary>
    /// Gc for a launch: the largest divisor of G that fits a group (≤ <see cref="MaxHeadsPerGroup"/> heads,
    /// Gc · headSize ≤ <see cref="MaxOutputPerWarp"/>), made smaller (more groups, each K/V element then read by
    /// G / Gc groups) while the launch would have fewer than <paramref name="targetGroups"/> groups.
    /// </summary>
    public static int HeadsPerGroup(int heads, int kvHeads, int headSize, int rows, int targetGroups)
    {
        int g = heads / kvHeads, best = 1;
        for (int c = 1; c <= Math.Min(g, MaxHeadsPerGroup); c++)
            if (g % c == 0 && c * headSize <= MaxOutputPerWarp) best = c;
        while (best > 1 && (long)rows * heads / best < targetGroups)
        {
            int next = best - 1;
            while (g % next != 0) next--;
            best = next;
        }
        return best;
    }

    /// <summary>
    /// The kernel (explicitly grouped: group = warps · warp size, grid rows · heads / HeadsPerGroup). In plain mode
    /// (Fresh = 0) <paramref name="k"/>, <paramref name="v"/> and <paramref name="table"/> are not read.
    /// </summary>
    public static void Run<TCache>(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, KvSlots<TCache> slots,
                                   ArrayView<float> table, ArrayView<float> output, AttentionShape s)
        where TCache : struct, ICacheView
    {
        var shared = SharedMemory.Allocate<float>(MaxWarps * WarpSlice);
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize, warp = Warp.WarpIdx;
        int warps = Group.DimX / warpSize;
        int hc = s.HeadsPerGroup, chunks = s.Heads / s.KvHeads / hc;
        int item = Grid.IdxX, perRow = s.KvHeads * chunks;
        int launchRow = item / perRow, kvHead = (item - launchRow * perRow) / chunks, chunk = item - launchRow * perRow - kvHead * chunks;
        int row = s.FirstRow + launchRow, slot = slots.SlotOf(row);
        var keys = slots.Keys(slot);
        var values = slots.Values(slot);
        int rowOffset = slots.RowOffset(slot), start = slots.Start(slot);
        long layerOffset = slots.LayerOffset(slot);
        int h0 = kvHead * (s.Heads / s.KvHeads) + chunk * hc;
        int hs = s.HeadSize, half = hs / 2, kvDim = s.KvHeads * hs, kvOff = kvHead * hs;
        int position = start + row - rowOffset, len = position + 1;
        long qRow = (long)row * s.Heads * hs;

        if (s.Fresh != 0)
        {
            for (int p = Group.IdxX; p < hc * half; p += Group.DimX)
            {
                int j = p / half, i = p - j * half;
                long o = qRow + (long)(h0 + j) * hs + 2 * i, t = ((long)position * half + i) * 2;
                float a = q[o], b = q[o + 1], c = table[t], sn = table[t + 1];
                q[o] = RopeKernel.Even(a, b, c, sn);
                q[o + 1] = RopeKernel.Odd(a, b, c, sn);
            }
            if (chunk == 0)
            {
                long source = (long)row * kvDim + kvOff, destination = layerOffset + (long)position * kvDim + kvOff;
                for (int i = Group.IdxX; i < half; i += Group.DimX)
                {
                    long t = ((long)position * half + i) * 2;
                    float a = k[source + 2 * i], b = k[source + 2 * i + 1], c = table[t], sn = table[t + 1];
                    keys.Store(destination + 2 * i, RopeKernel.Even(a, b, c, sn));
                    keys.Store(destination + 2 * i + 1, RopeKernel.Odd(a, b, c, sn));
                    values.Store(destination + 2 * i, v[source + 2 * i]);
                    values.Store(destination + 2 * i + 1, v[source + 2 * i + 1]);
                }
            }
            Group.Barrier();
        }

        int per = (len + warps - 1) / warps;
        int t0 = warp * per, t1 = Math.Min(len, t0 + per);
        int slice = warp * WarpSlice, oBase = slice + 2 * MaxHeadsPerGroup;
        for (int j = 0; j < hc; j++)
            for (int i = lane; i < hs; i += warpSize) shared[oBase + j * hs + i] = 0f;
        var m = Floats8.Fill(float.NegativeInfinity);
        var l = default(Floats8);
        for (int t = t0; t < t1; t++)
        {
            bool fresh = s.Fresh != 0 && t >= start;
            long cached = layerOffset + (long)t * kvDim + kvOff;
            long current = (long)(rowOffset + t - start) * kvDim + kvOff; // read only when fresh
            long rope = (long)t * half * 2;
            for (int j = 0; j < hc; j++)
            {
                long qBase = qRow + (long)(h0 + j) * hs;
                float partial = 0f;
                for (int i = lane; i < hs; i += warpSize)
                    partial += q[qBase + i] * (fresh ? FreshKey(k, keys, table, current, rope, i) : keys.Load(cached + i));
                float score = WarpSum(partial) * s.Scale;
                float mj = m.Get(j), mNew = MathF.Max(mj, score);
                float correction = MathF.Exp(mj - mNew); // 0 at the first position (m = −∞)
                float p = MathF.Exp(score - mNew);
                l = Floats8.With(l, j, l.Get(j) * correction + p);
                m = Floats8.With(m, j, mNew);
                int o = oBase + j * hs;
                for (int i = lane; i < hs; i += warpSize)
                    shared[o + i] = shared[o + i] * correction + p * (fresh ? values.Round(v[current + i]) : values.Load(cached + i));
            }
        }
        if (lane == 0)
            for (int j = 0; j < hc; j++)
            {
                shared[slice + j] = m.Get(j); // −∞ and l = 0 for a warp whose positions are empty: it adds nothing below
                shared[slice + MaxHeadsPerGroup + j] = l.Get(j);
            }
        Group.Barrier();

        for (int e = Group.IdxX; e < hc * hs; e += Group.DimX)
        {
            int j = e / hs, i = e - j * hs;
            float max = float.NegativeInfinity;
            for (int w = 0; w < warps; w++) max = MathF.Max(max, shared[w * WarpSlice + j]);
            float sum = 0f, acc = 0f;
            for (int w = 0; w < warps; w++)
            {
                float weight = MathF.Exp(shared[w * WarpSlice + j] - max);
                sum += shared[w * WarpSlice + MaxHeadsPerGroup + j] * weight;
                acc += shared[w * WarpSlice + 2 * MaxHeadsPerGroup + e] * weight;
            }
            output[qRow + (long)(h0 + j) * hs + i] = acc * (1f / sum);
        }
    }

    /// <summary>Element i of a current row's K as the cache would hold it: rotated (table row <paramref name="rope"/>), then rounded.</summary>
    private static float FreshKey<TCache>(ArrayView<float> k, TCache keys, ArrayView<float> table, long row, long rope, int i)
        where TCache : struct, ICacheView
    {
        int pair = i >> 1;
        float a = k[row + 2 * pair], b = k[row + 2 * pair + 1], c = table[rope + 2 * pair], sn = table[rope + 2 * pair + 1];
        return keys.Round((i & 1) == 0 ? RopeKernel.Even(a, b, c, sn) : RopeKernel.Odd(a, b, c, sn));
    }
}
