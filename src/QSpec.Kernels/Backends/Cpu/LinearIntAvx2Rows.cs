using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>Activation rows per multi-row AVX2 tile: a compile-time constant, so the JIT drops the unused rows' code.</summary>
internal interface IAvx2Rows
{
    static abstract int Count { get; }
}

internal struct Avx2OneRow : IAvx2Rows { public static int Count => 1; }
internal struct Avx2TwoRows : IAvx2Rows { public static int Count => 2; }
internal struct Avx2FourRows : IAvx2Rows { public static int Count => 4; }

/// <summary>
/// Integer linear kernel (W4A4 / W4A8) for a tile of four output channels and one, two or four activation rows: each
/// weight chunk is loaded and unpacked into nibbles (and / shift + and) once and multiplied with every row of the tile,
/// where <see cref="LinearIntAvx2.Tile{TDot}"/> unpacks it again for every row.
/// </summary>
/// <remarks>
/// <para>Loop order: group → channel → chunk → row. Per group and channel the R rows' int32 dots accumulate in R
/// vectors (8 partial lanes each); channel 0 and 1's vectors are paired by vphaddd as soon as channel 1 is done, 2 and 3
/// likewise, then the two pairs, so at most 3·R + 4 vectors are live (16 ymm at R = 4) instead of 4·R accumulators
/// plus the unpacked nibbles of four channels.</para>
/// <para>Bits: per row the integer dot of every (group, channel) is exact in any order (|Σ| ≤ K·15·127 ≪ 2³¹, and the
/// int16 pair sums of <see cref="IByteDot.Dot2"/> stay ≤ 7620), so it equals the reference's; the float fold is the
/// reference's exactly: d corrected by −8·Σa, acc = acc + (float)d · s_w per group in ascending group order (Vector128
/// multiply then add, never contracted into an FMA), then acc · s_a. Nothing a row computes depends on the other rows
/// of its tile, on R, or on the thread split, so results are batch-invariant.</para>
/// <para>Ops per 64 weights (one channel's block) per row at G = 32, R = 4, against the one-row tile: the row's
/// 2 vpmaddubsw + 2 vpmaddwd (the x loads fold into vpmaddubsw) and its share of the per-group reduction (3 vphaddd,
/// extract, add, sub, cvt, mul, add per 4 channels and group: ~4.5), plus the channel's load, prefetch and 3 unpack ops
/// shared by the 4 rows (~1.5): ~10 ops, against ~17 when each row reloads (2 loads, 2 prefetches) and unpacks
/// (3 ops) the block itself and adds each chunk's dot into a separate accumulator.</para>
/// </remarks>
internal static unsafe class LinearIntAvx2Rows
{
    /// <summary>Up to four rows' vectors of one channel (fields past the tile's row count are unused).</summary>
    private struct Four
    {
        public Vector256<int> R0, R1, R2, R3;
    }

    /// <summary>
    /// y[r·n + c] for rows r &lt; TRows.Count and channels c &lt; <paramref name="valid"/> of the tile whose packed rows
    /// start at w0..w3 and whose scales are <paramref name="scales"/>[g·4 + c]; row r's codes start at
    /// <paramref name="a"/> + r·<paramref name="aStride"/>, its chunk sums at <paramref name="sums"/> + r·<paramref name="sumStride"/>
    /// and its scale is <paramref name="activationScales"/>[r].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TDot, TRows>(byte* w0, byte* w1, byte* w2, byte* w3, float* scales, in LinearIntAvx2.Shape shape,
                                         sbyte* a, long aStride, int* sums, long sumStride, float* activationScales,
                                         float* y, long n, int valid)
        where TDot : struct, IByteDot where TRows : struct, IAvx2Rows
    {
        // Per-row float accumulators [c0..c3]; the JIT keeps them in registers where it can, else they spill once per group.
        Vector128<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int ahead = shape.Ahead;
        for (int g = 0; g < shape.GroupCount; g++)
        {
            int begin = g * shape.GroupChunks, end = Math.Min(shape.Chunks, begin + shape.GroupChunks);
            var c0 = Channel<TDot, TRows>(w0, begin, end, ahead, a, aStride);
            var c1 = Channel<TDot, TRows>(w1, begin, end, ahead, a, aStride);
            Four p;
            p.R0 = Avx2.HorizontalAdd(c0.R0, c1.R0);
            p.R1 = TRows.Count > 1 ? Avx2.HorizontalAdd(c0.R1, c1.R1) : default;
            p.R2 = TRows.Count > 2 ? Avx2.HorizontalAdd(c0.R2, c1.R2) : default;
            p.R3 = TRows.Count > 2 ? Avx2.HorizontalAdd(c0.R3, c1.R3) : default;
            var c2 = Channel<TDot, TRows>(w2, begin, end, ahead, a, aStride);
            var c3 = Channel<TDot, TRows>(w3, begin, end, ahead, a, aStride);
            var s = Vector128.Load(scales + 4 * g);
            acc0 = Fold(acc0, Avx2.HorizontalAdd(p.R0, Avx2.HorizontalAdd(c2.R0, c3.R0)), GroupSum(sums, begin, end), s);
            if (TRows.Count > 1)
                acc1 = Fold(acc1, Avx2.HorizontalAdd(p.R1, Avx2.HorizontalAdd(c2.R1, c3.R1)), GroupSum(sums + sumStride, begin, end), s);
            if (TRows.Count > 2)
            {
                acc2 = Fold(acc2, Avx2.HorizontalAdd(p.R2, Avx2.HorizontalAdd(c2.R2, c3.R2)), GroupSum(sums + 2 * sumStride, begin, end), s);
                acc3 = Fold(acc3, Avx2.HorizontalAdd(p.R3, Avx2.HorizontalAdd(c2.R3, c3.R3)), GroupSum(sums + 3 * sumStride, begin, end), s);
            }
        }
        Store(acc0 * Vector128.Create(activationScales[0]), y, valid);
        if (TRows.Count > 1) Store(acc1 * Vector128.Create(activationScales[1]), y + n, valid);
        if (TRows.Count > 2)
        {
            Store(acc2 * Vector128.Create(activationScales[2]), y + 2 * n, valid);
            Store(acc3 * Vector128.Create(activationScales[3]), y + 3 * n, valid);
        }
    }

    /// <summary>
    /// One channel's chunks [begin, end) of one group against every row: per row a vector of 8 int32 partial dots.
    /// The chunks of a whole block in the group share one load and unpack (low nibbles pair with chunk c, high with c + 1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Four Channel<TDot, TRows>(byte* w, int begin, int end, int ahead, sbyte* a, long aStride)
        where TDot : struct, IByteDot where TRows : struct, IAvx2Rows
    {
        var low = Vector256.Create((byte)0x0F);
        sbyte* a1 = a + aStride, a2 = a + 2 * aStride, a3 = a + 3 * aStride;
        Four r = default;
        int c = begin;
        while (c < end)
        {
            int offset = 16 * c & ~31; // block c / 2 starts at byte 32 · (c / 2)
            // The next tile's same block into L2: four interleaved row streams defeat the hardware prefetcher.
            Sse.Prefetch1(w + offset + ahead);
            var v = Vector256.Load(w + offset);
            int x = 32 * c;
            if ((c & 1) == 0 && c + 1 < end)
            {
                var lo = v & low;
                var hi = High(v) & low;
                r.R0 = TDot.Dot2(r.R0, lo, Vector256.Load(a + x), hi, Vector256.Load(a + x + 32));
                if (TRows.Count > 1) r.R1 = TDot.Dot2(r.R1, lo, Vector256.Load(a1 + x), hi, Vector256.Load(a1 + x + 32));
                if (TRows.Count > 2)
                {
                    r.R2 = TDot.Dot2(r.R2, lo, Vector256.Load(a2 + x), hi, Vector256.Load(a2 + x + 32));
                    r.R3 = TDot.Dot2(r.R3, lo, Vector256.Load(a3 + x), hi, Vector256.Load(a3 + x + 32));
                }
                c += 2;
            }
            else
            {
                // One chunk of a block in this group (G = 32, or an odd tail): its low or its high nibbles.
                var u = ((c & 1) == 0 ? v : High(v)) & low;
                r.R0 = TDot.Dot(r.R0, u, Vector256.Load(a + x));
                if (TRows.Count > 1) r.R1 = TDot.Dot(r.R1, u, Vector256.Load(a1 + x));
                if (TRows.Count > 2)
                {
                    r.R2 = TDot.Dot(r.R2, u, Vector256.Load(a2 + x));
                    r.R3 = TDot.Dot(r.R3, u, Vector256.Load(a3 + x));
                }
                c++;
            }
        }
        return r;
    }

    /// <summary>acc + (float)(d − 8·Σa) · s: d the four channels' dots, halves of <paramref name="h"/> (a separate multiply and add).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Fold(Vector128<float> acc, Vector256<int> h, int asum, Vector128<float> s)
        => acc + Vector128.ConvertToSingle(h.GetLower() + h.GetUpper() - Vector128.Create(8 * asum)) * s;

    /// <summary>Σ of a row's chunk sums over one group's chunks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int GroupSum(int* sums, int begin, int end)
    {
        int s = 0;
        for (int c = begin; c < end; c++) s += sums[c];
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector128<float> v, float* y, int valid)
    {
        if (valid == 4) v.Store(y);
        else for (int i = 0; i < valid; i++) y[i] = v.GetElement(i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> High(Vector256<byte> v) => (v.AsUInt16() >>> 4).AsByte();
}
