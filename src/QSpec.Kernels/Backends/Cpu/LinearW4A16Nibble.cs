using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// AVX-512F W4A16 kernel over whole 64-byte pairs of blocks: 64 packed bytes (two 64-column blocks, 128 weights) load as
/// 16 dwords and nibble i of every dword is extracted in place, with no zero-extension. For G = 32 and 64 the weights
/// become the float 1 + u/16 = 1.5 + q/16 with one shift and one vpternlogd ((d ≪ 19 − 4i) AND 0x00780000 OR 0x3F800000:
/// no shuffle at all); for G ≥ 128 and per channel, one shift and one vpermps from the table (u − 8)·s. The activations
/// are permuted once per call (<see cref="LinearW4A16NibbleActivations"/>) into the order the nibbles come out.
/// The default is the denormal form (below), where the machine computes with denormals exactly and fast.
/// </summary>
/// <remarks>
/// <para><b>Arithmetic.</b> Per pair p of blocks, row m, channel c and scale group g (a half pair of lanes):
/// P = −1.5·Σx + Σ x·(1.5 + q/16) = Σ x·q/16, an FMA chain that starts from the precomputed −1.5·Σx of the same lanes
/// (so no subtraction of the offset remains), then acc += S·P with S the group's scales per lane, and finally
/// y = 16·Reduce(acc). The scale is applied once per group and lane to a partial sum (not per weight), so a weight costs
/// one shift, one vpternlogd and one FMA per row. G = 32 (<see cref="SplitGroups"/>) folds P twice per pair, after the even
/// nibbles (columns 0..31 of each block) and after the odd ones (32..63); G = 64 folds once.</para>
/// <para><b>Table form (G ≥ 128, per channel).</b> Where one scale covers the whole pair, nibble i instead indexes the
/// 16-entry table (u − 8)·s with vpermps (which reads index bits 0..3, so a shift alone extracts it): the reference's
/// products, no offset and no partial sum to fold, 8 FMAs per row and pair instead of 9. Measured against the fold form
/// (w4a16ab, G = 128 and per channel): equal at M = 1, 5..10 % faster at M = 4 and 8. It cannot serve G = 32 or 64: a
/// vector's lanes 0..7 and 8..15 come from two blocks with different scales, and one vpermps reads one table (the
/// two-table vpermt2ps needs a lane bit set first: 3 ops per 16 weights). The fold form's price is 2 extra FMAs per row
/// and pair at G = 32 (10 instead of 8): it wins at M = 1..2, where the dequantization dominates, and loses ~15 % at M = 8.
/// The table form ignores the −1.5·Σx slots of the activations.</para>
/// <para><b>Denormal form (every group size; <see cref="DenormalFloats"/>).</b> Nibble i of a dword, masked in place (bits
/// 4j..4j+3, j = i mod 4; nibbles 4..7 from the dword shifted right by 16 once), is the denormal float u·2^(4j − 149).
/// The activations of vector i are pre-scaled by 2^(80 − 4j), so every product is x·u·2^−69, and the chains start from
/// −8·2^−69·Σx: P = 2^−69·Σ x·q, y = 2^69·Reduce(acc). A pair then costs one shift and 8 ANDs per channel instead of 8
/// shifts and 8 vpternlogd, and the scalings are exact powers of two. Measured (`denormab`, 6 Dec 2026, Zen 4 VM,
/// alternated forwards): a W4A16 decode forward 0.87-0.88x the fold form's time, 2 tokens 0.92-0.94x, 4 tokens 0.97-0.99x.
/// Range: x·2^80 is finite for |x| &lt; 2^48; products stay normal for |x| ≥ 2^−57 (below, absolute error ≤ 2^−80).
/// G = 128 and per channel, replacing the table form: 0.92 and 0.85x at one token. A thread that reads denormals as
/// zero (DAZ) gets the fold or table form (the caller) or the scalar reference (a worker).</para>
/// <para><b>Order.</b> Every row's operations (which FMAs, in which order, into which lane) are fixed by its own
/// activations and the weights: they depend on neither M, the tile, the K chunking (accumulators are parked in scratch
/// between chunks, an exact store and load) nor the thread split (by channel), so a row gives the same bits in any batch.</para>
/// <para><b>Tiles.</b> The weights of a pair are dequantized once per tile and used for all its rows: 4 channels × 1..2
/// rows or 2 channels × 3..4 rows (≤ 29 live vectors: accumulators, partial sums, packed weights, tables). Rows run in
/// chunks of 2 or 4 (<see cref="Rows"/>), so past a chunk a pair is dequantized again (from L1).</para>
/// <para><b>Padding.</b> A row's last pair may hold one block only (K rounded to 64 is an odd number of blocks); its
/// 32 bytes are copied to a scratch pair whose upper half is zero (u = 0, multiplied by zero activations), so no load
/// leaves the matrix. Scale indices past the last group are clamped (their lanes see zero activations).</para>
/// </remarks>
internal static unsafe partial class LinearW4A16Nibble
{
    /// <summary>Channels per block of the driver (and the alignment of a thread's channel range).</summary>
    public const int ChannelBlock = 4;
    /// <summary>Pairs (128 columns) per K chunk.</summary>
    public const int ChunkPairs = 8;
    /// <summary>Floats of permuted activations per pair and row: 8 nibble vectors, then −1.5·Σx of the even and odd halves (or of all, in slot 8, for wide groups).</summary>
    public const int PairFloats = 160;

    /// <summary>
    /// Software prefetch distance in rows: each pair's 64 bytes are prefetched 8 rows (two channel blocks) before use.
    /// Measured on the 2-core Zen 5 VM (M = 1, weights from memory): no prefetch 1.5x slower, 1 row ahead 2x slower than
    /// 4..16 rows ahead (flat within noise; 8 slightly best): memory latency × bandwidth needs several KB in flight.
    /// G = 32 also prefetches its scales (a fifth of the bytes; one 64-byte line per 4 pairs) the same 8 rows ahead:
    /// 0.83-0.97x the time without, at M = 1. The weights 8 rows ahead are prefetched in address order: a tile of C
    /// channels (consecutive rows, one contiguous run) prefetches C consecutive lines of the run 8 rows on per pair, not
    /// each row's line at the pair's offset (A/B, 4 Dec 2026, Zen 5 VM, interleaved, weights from memory: M = 1
    /// 0.87-1.0 of the time at G = 32 and 128, M = 2 0.92-1.08, M = 4 0.96-1.03; the integer one-row tiles gained more).
    /// </summary>
    public const int PrefetchRows = 8;

    /// <summary>Vector512 accumulators <see cref="Run"/> needs for <paramref name="rows"/> rows.</summary>
    public static int AccumulatorCount(int rows) => ChannelBlock * rows;

    /// <summary>Floats of scratch <see cref="Run"/> needs for one channel block's fp16 scales converted to fp32 (a multiple of 16).</summary>
    public static int HalfScaleScratch(int groupCount) => (ChannelBlock * groupCount + 15) / 16 * 16;

    /// <summary>
    /// Y[m, j] for m &lt; rows and channels j in [start, end) of an INT4 matrix; x is the permuted activations of
    /// <see cref="LinearW4A16NibbleActivations.Permute"/> with row stride xs, y has row stride n; <paramref name="acc"/> holds
    /// <see cref="AccumulatorCount"/> vectors of scratch.
    /// </summary>
    /// <remarks>
    /// With <paramref name="halfScales"/> (the scales as fp16 bits, padded by 16 entries; null for fp32 scales), each channel
    /// block's 4 · groupCount scales are converted exactly (<see cref="HalfScales"/>) into <paramref name="halfScratch"/>
    /// (<see cref="HalfScaleScratch"/> floats, 64-byte aligned, stays in L1) and the tiles read them from there: the same
    /// floats as the fp32 scales, so the same bits, at 2 bytes per scale from memory instead of 4. The conversion costs
    /// one 16-lane step per 16 scales (1/512 of the weights' work at G = 32); the fp16 scales of the block 8 rows ahead
    /// are prefetched with it, as the fp32 path's tiles prefetch theirs.
    /// </remarks>
    public static void Run(byte* data, float* scales, ushort* halfScales, float* halfScratch, int rowBytes, int groupCount, GroupIndex groups,
                           int n, int start, int end, int rows, float* x, int xs, float* y, Vector512<float>* acc, bool denormal = false)
    {
        if (groups.BlockShift < 0) Run<SplitGroups>(data, scales, halfScales, halfScratch, rowBytes, groupCount, groups, n, start, end, rows, x, xs, y, acc, denormal);
        else if (groups.BlockShift == 0) Run<BlockGroups>(data, scales, halfScales, halfScratch, rowBytes, groupCount, groups, n, start, end, rows, x, xs, y, acc, denormal);
        else if (denormal) Run<UniformGroups>(data, scales, halfScales, halfScratch, rowBytes, groupCount, groups, n, start, end, rows, x, xs, y, acc, true);
        else Run<PairGroups>(data, scales, halfScales, halfScratch, rowBytes, groupCount, groups, n, start, end, rows, x, xs, y, acc, false);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TG>(byte* data, float* scales, ushort* halfScales, float* halfScratch, int rowBytes, int groupCount, GroupIndex groups,
                                int n, int start, int end, int rows, float* x, int xs, float* y, Vector512<float>* acc, bool denormal) where TG : struct, IGroupSplit
    {
        float outScale = TG.Table ? 1f : denormal ? MathF.ScaleB(1f, 149 - LinearW4A16NibbleActivations.DenormalExponent) : 16f;
        int shift = groups.BlockShift, last = groups.Last, pairs = xs / PairFloats;
        bool half = rowBytes % 64 != 0;
        int full = half ? pairs - 1 : pairs;
        long ahead = (long)PrefetchRows * rowBytes;
        byte* tail = stackalloc byte[ChannelBlock * 64 + 64];
        tail = (byte*)(((nint)tail + 63) & ~(nint)63);
        var w = stackalloc byte*[ChannelBlock];
        var s = stackalloc float*[ChannelBlock];
        for (int j0 = start; j0 < end; j0 += ChannelBlock)
        {
            int jn = Math.Min(ChannelBlock, end - j0);
            // Channels past the range repeat its last one: computed, then dropped.
            for (int c = 0; c < ChannelBlock; c++)
            {
                int j = j0 + Math.Min(c, jn - 1);
                w[c] = data + (long)j * rowBytes;
                s[c] = scales + (long)j * groupCount;
            }
            if (halfScales != null)
            {
                // The block's channels are consecutive, so their scales are one run of jn · groupCount fp16 values.
                ushort* h = halfScales + (long)j0 * groupCount;
                int count = jn * groupCount;
                for (int i = 0; i < count; i += 16)
                    HalfScales.ToSingle(Vector256.Load(h + i)).Store(halfScratch + i);
                if (j0 + PrefetchRows < end)
                {
                    byte* next = (byte*)(h + (long)PrefetchRows * groupCount);
                    for (int b = 0; b < ChannelBlock * groupCount * 2; b += 64) CpuPrefetch.Line(next + b);
                }
                for (int c = 0; c < ChannelBlock; c++) s[c] = halfScratch + (long)Math.Min(c, jn - 1) * groupCount;
            }
            new Span<Vector512<float>>(acc, ChannelBlock * rows).Clear();
            for (int p0 = 0; p0 < full; p0 += ChunkPairs)
                Rows<TG>(w[0], w[1], w[2], w[3], s, shift, last, ahead, p0, Math.Min(full, p0 + ChunkPairs), rows, x, xs, acc, denormal);
            if (half)
            {
                // The single-block last pair, from scratch: its pointers are offset so that pair index `full` lands on it.
                for (int c = 0; c < ChannelBlock; c++)
                {
                    Vector256.Load(w[c] + 64L * full).Store(tail + 64 * c);
                    Vector256<byte>.Zero.Store(tail + 64 * c + 32);
                }
                long back = 64L * full;
                Rows<TG>(tail - back, tail + 64 - back, tail + 128 - back, tail + 192 - back, s, shift, last, 0, full, pairs, rows, x, xs, acc, denormal);
            }
            for (int c = 0; c < jn; c++)
                for (int m = 0; m < rows; m++)
                    y[(long)m * n + j0 + c] = outScale * Reduce(acc[c * rows + m]);
        }
    }

    /// <summary>All rows of one channel block over pairs [p0, p1), in row tiles of 2 or 4 and a remainder.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Rows<TG>(byte* w0, byte* w1, byte* w2, byte* w3, float** s, int shift, int last, long ahead, int p0, int p1,
                                 int rows, float* x, int xs, Vector512<float>* acc, bool denormal) where TG : struct, IGroupSplit
    {
        float* s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
        // Row chunks of 4 (2-channel tiles of 3..4 rows) only for M <= 4 at K <= 4096; else of 2 (4-channel tiles, each
        // activation load shared by 4 channels, a pair dequantized once per 2 rows). Measured (w4a16ab): at M = 8 the
        // 2-row chunks take 0.85-0.97x the time of the 4-row ones, at M = 4 and K = 5632 0.3-0.9x; at M = 4 and K = 2048 1.05-1.1x.
        int chunk = rows > 4 || xs > 32 * PairFloats ? 2 : 4;
        for (int m0 = 0; m0 < rows;)
        {
            int r = Math.Min(chunk, rows - m0);
            float* xm = x + (long)m0 * xs;
            Vector512<float>* a = acc + m0;
            switch (r)
            {
                case 1:
                    if (TG.Table) Table4<OneRow>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, p0, p1, xm, xs, a, rows);
                    else if (denormal) Denormal4<OneRow, TG>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, p0, p1, xm, xs, a, rows);
                    else Tile4<OneRow, TG>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, p0, p1, xm, xs, a, rows);
                    break;
                case 2:
                    // 4 channels share each activation load: 0.6-1.0x the 2-channel tiles (most on K = 5632, whose
                    // activations outgrow L1).
                    if (TG.Table) Table4<TwoRows>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, p0, p1, xm, xs, a, rows);
                    else if (denormal) Denormal4<TwoRows, TG>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, p0, p1, xm, xs, a, rows);
                    else Tile4<TwoRows, TG>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, p0, p1, xm, xs, a, rows);
                    break;
                case 3: Pairs<ThreeRows, TG>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, p0, p1, xm, xs, a, rows, denormal); break;
                default: Pairs<FourRows, TG>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, p0, p1, xm, xs, a, rows, denormal); break;
            }
            m0 += r;
        }
    }

    /// <summary>2..4 rows: channels (0, 1), then (2, 3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pairs<TR, TG>(byte* w0, byte* w1, byte* w2, byte* w3, float* s0, float* s1, float* s2, float* s3, int shift, int last,
                                      long ahead, int p0, int p1, float* x, int xs, Vector512<float>* acc, int rows, bool denormal)
        where TR : struct, IRowTile where TG : struct, IGroupSplit
    {
        if (TG.Table)
        {
            Table2<TR>(w0, w1, s0, s1, shift, last, ahead, p0, p1, x, xs, acc, rows);
            Table2<TR>(w2, w3, s2, s3, shift, last, ahead, p0, p1, x, xs, acc + 2 * rows, rows);
        }
        else if (denormal)
        {
            Denormal2<TR, TG>(w0, w1, s0, s1, shift, last, ahead, p0, p1, x, xs, acc, rows);
            Denormal2<TR, TG>(w2, w3, s2, s3, shift, last, ahead, p0, p1, x, xs, acc + 2 * rows, rows);
        }
        else
        {
            Tile2<TR, TG>(w0, w1, s0, s1, shift, last, ahead, p0, p1, x, xs, acc, rows);
            Tile2<TR, TG>(w2, w3, s2, s3, shift, last, ahead, p0, p1, x, xs, acc + 2 * rows, rows);
        }
    }

    /// <summary>The fixed horizontal sum: halves down to four lanes, then pairwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector512<float> a)
    {
        var h = a.GetLower() + a.GetUpper();
        var q = h.GetLower() + h.GetUpper();
        return (q.GetElement(0) + q.GetElement(1)) + (q.GetElement(2) + q.GetElement(3));
    }
}

/// <summary>How a pair's scale groups fall on its lanes, specialized away per tile.</summary>
internal interface IGroupSplit
{
    /// <summary>G = 32: the even and odd nibbles (columns 0..31 and 32..63 of each block) are separate groups, two folds per pair.</summary>
    static abstract bool Split { get; }
    /// <summary>G ≥ 128 or per channel: one scale for the whole pair (one broadcast instead of two halves).</summary>
    static abstract bool Uniform { get; }
    /// <summary>Uniform, and dequantized by the table form (vpermps from (u − 8)·s, no partial sums to fold).</summary>
    static abstract bool Table { get; }
}

/// <summary>G = 32.</summary>
internal struct SplitGroups : IGroupSplit { public static bool Split => true; public static bool Uniform => false; public static bool Table => false; }
/// <summary>G = 64: one group per block (half a pair).</summary>
internal struct BlockGroups : IGroupSplit { public static bool Split => false; public static bool Uniform => false; public static bool Table => false; }
/// <summary>G ≥ 128 or per channel, table form.</summary>
internal struct PairGroups : IGroupSplit { public static bool Split => false; public static bool Uniform => true; public static bool Table => true; }
/// <summary>G ≥ 128 or per channel, denormal form: one scale per pair, folded once per pair.</summary>
internal struct UniformGroups : IGroupSplit { public static bool Split => false; public static bool Uniform => true; public static bool Table => false; }
