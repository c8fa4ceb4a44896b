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
/// Integer linear kernel (W4A4 / W4A8) for a tile of four output channels and one, two (or four) activation rows: each
/// weight chunk is loaded and unpacked into nibbles (and / shift + and) once and multiplied with every row of the tile,
/// where <see cref="LinearIntAvx2.Tile{TDot}"/> (now only the A/B baseline) unpacks it again for every row. One row is
/// M = 1 and an odd M's last row.
/// </summary>
/// <remarks>
/// <para>Loop order: group → chunk (a whole block where the group holds both its halves) → channel pair → row. Per row
/// the dots of channels 0 and 1 are paired (<see cref="IByteDot.Pair"/>, vphaddd's layout) as they are made and added
/// into A, channels 2 and 3 into B (the pairing is linear: Σ hadd(x, y) = hadd(Σx, Σy)); at the group's end hadd(A, B)'s two halves add up to the four
/// channels' dots. That keeps 2·R accumulators (8 ymm at R = 4) instead of the 4·R per-channel ones, which with the
/// unpacked nibbles would not fit the 16 ymm registers.</para>
/// <para>Bits: per row the integer dot of every (group, channel) is exact in any order (|Σ| ≤ K·15·127 ≪ 2³¹, and the
/// int16 pair sums of <see cref="IByteDot.Dot2"/> stay ≤ 7620), so it equals the reference's; the float fold is the
/// reference's exactly: d corrected by −8·Σa, acc = acc + (float)d · s_w per group in ascending group order (Vector128
/// multiply then add, never contracted into an FMA), then acc · s_a. Nothing a row computes depends on the other rows
/// of its tile, on R, or on the thread split, so results are batch-invariant.</para>
/// <para>G = 32: a block is two groups; <see cref="Fold2{TDot}"/> reduces both into [d_g | d_g+1] and corrects, converts
/// and scales them in 256 bits, then adds (acc + p_g) + p_g+1, the reference's order.</para>
/// <para>Ops per 64 weights (one channel's block) per row at G = 32, estimated from the source: the one-row tile ~21
/// (its own 2 prefetches, 2 weight loads, 3 unpack ops; 2 × (vpmaddubsw, vpmaddwd, vpaddd); per group 3 vphaddd per
/// 4 channels, the fold and the chunk-sum adds); here at R = 2 ~10: 2 vpmaddubsw + 1 vpmaddwd + 1 vphaddw
/// (<see cref="IByteDot.Pair"/>), the paired fold (2 vphaddd, 2 vperm2i128, add, sub, cvt, mul, extract, 2 add per 4
/// channels: ~3) and the block's prefetches, loads and unpacking shared by 2 rows (~3.5). Measured (intavx2ab, 3 Dec
/// 2026, 2 threads, interleaved): M = 2 at 0.50-0.61 of the one-row tiles' time at G = 32, 0.73-0.77 at G = 128. The
/// 4-row tile (R = 4) is kept behind <see cref="LinearIntKernel.Avx2MaxTileRows"/>: it spills and was no faster.</para>
/// </remarks>
internal static unsafe class LinearIntAvx2Rows
{
    /// <summary>
    /// y[r·n + c] for rows r &lt; TRows.Count and channels c &lt; <paramref name="valid"/> of the tile whose packed rows
    /// start at w0..w3 and whose scales are <paramref name="scales"/>[g·4 + c] (<typeparamref name="TScales"/>: fp32 or fp16 bits); row r's codes start at
    /// <paramref name="a"/> + r·<paramref name="aStride"/>, its nibble-offset corrections 8·Σa per group, four copies
    /// each (one per channel lane), at <paramref name="corrections"/> + r·<paramref name="correctionStride"/> and its scale is <paramref name="activationScales"/>[r].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TDot, TRows, TScales>(byte* w0, byte* w1, byte* w2, byte* w3, byte* scales, in LinearIntAvx2.Shape shape,
                                                  sbyte* a, long aStride, int* corrections, long correctionStride, float* activationScales,
                                                  float* y, long n, int valid)
        where TDot : struct, IByteDot where TRows : struct, IAvx2Rows where TScales : struct, ITileScales
    {
        var low = Vector256.Create((byte)0x0F);
        sbyte* a1 = a + aStride, a2 = a + 2 * aStride, a3 = a + 3 * aStride;
        int* k1 = corrections + correctionStride, k2 = corrections + 2 * correctionStride, k3 = corrections + 3 * correctionStride;
        int ahead = shape.Ahead, groupCount = shape.GroupCount, groupChunks = shape.GroupChunks, chunks = shape.Chunks;
        Vector128<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int g = 0;
        if (groupChunks == 1)
        {
            // G = 32: a block is two groups (low nibbles group g, high nibbles g + 1), folded together in 256 bits.
            for (; g + 1 < groupCount; g += 2)
            {
                int offset = 16 * g; // groups g, g + 1 are chunks g, g + 1: block g / 2, at byte 32 · (g / 2)
                Sse.Prefetch1(w0 + offset + ahead); Sse.Prefetch1(w1 + offset + ahead);
                Sse.Prefetch1(w2 + offset + ahead); Sse.Prefetch1(w3 + offset + ahead);
                var v0 = Vector256.Load(w0 + offset); var v1 = Vector256.Load(w1 + offset);
                var v2 = Vector256.Load(w2 + offset); var v3 = Vector256.Load(w3 + offset);
                Vector256<byte> l0 = v0 & low, h0 = High(v0) & low, l1 = v1 & low, h1 = High(v1) & low;
                Vector256<byte> l2 = v2 & low, h2 = High(v2) & low, l3 = v3 & low, h3 = High(v3) & low;
                var s2 = TScales.Load8(scales + 4 * g * TScales.Bytes); // groups g and g + 1 of the tile's four channels
                int x = 32 * g;
                acc0 = Fold2<TDot>(acc0, l0, h0, l1, h1, l2, h2, l3, h3, a + x, corrections + 4 * g, s2);
                if (TRows.Count > 1) acc1 = Fold2<TDot>(acc1, l0, h0, l1, h1, l2, h2, l3, h3, a1 + x, k1 + 4 * g, s2);
                if (TRows.Count > 2)
                {
                    acc2 = Fold2<TDot>(acc2, l0, h0, l1, h1, l2, h2, l3, h3, a2 + x, k2 + 4 * g, s2);
                    acc3 = Fold2<TDot>(acc3, l0, h0, l1, h1, l2, h2, l3, h3, a3 + x, k3 + 4 * g, s2);
                }
            }
        }
        for (; g < groupCount; g++)
        {
            // Per row: A = channels 0, 1 and B = channels 2, 3, paired lane by lane (see the remarks).
            Vector256<int> pa0 = default, pa1 = default, pa2 = default, pa3 = default;
            Vector256<int> pb0 = default, pb1 = default, pb2 = default, pb3 = default;
            int c = g * groupChunks, end = Math.Min(chunks, c + groupChunks);
            while (c < end)
            {
                int offset = 16 * c & ~31; // block c / 2 starts at byte 32 · (c / 2)
                // The next tile's four rows, same block, into L2: several interleaved row streams defeat the hardware prefetcher.
                Sse.Prefetch1(w0 + offset + ahead); Sse.Prefetch1(w1 + offset + ahead);
                Sse.Prefetch1(w2 + offset + ahead); Sse.Prefetch1(w3 + offset + ahead);
                int x = 32 * c;
                if ((c & 1) == 0 && c + 1 < end)
                {
                    // A whole block in this group: low nibbles with chunk c, high nibbles with chunk c + 1.
                    var v0 = Vector256.Load(w0 + offset); var v1 = Vector256.Load(w1 + offset);
                    Vector256<byte> l0 = v0 & low, h0 = High(v0) & low, l1 = v1 & low, h1 = High(v1) & low;
                    pa0 += Pair2<TDot>(l0, h0, l1, h1, a + x);
                    if (TRows.Count > 1) pa1 += Pair2<TDot>(l0, h0, l1, h1, a1 + x);
                    if (TRows.Count > 2) { pa2 += Pair2<TDot>(l0, h0, l1, h1, a2 + x); pa3 += Pair2<TDot>(l0, h0, l1, h1, a3 + x); }
                    var v2 = Vector256.Load(w2 + offset); var v3 = Vector256.Load(w3 + offset);
                    Vector256<byte> l2 = v2 & low, h2 = High(v2) & low, l3 = v3 & low, h3 = High(v3) & low;
                    pb0 += Pair2<TDot>(l2, h2, l3, h3, a + x);
                    if (TRows.Count > 1) pb1 += Pair2<TDot>(l2, h2, l3, h3, a1 + x);
                    if (TRows.Count > 2) { pb2 += Pair2<TDot>(l2, h2, l3, h3, a2 + x); pb3 += Pair2<TDot>(l2, h2, l3, h3, a3 + x); }
                    c += 2;
                }
                else
                {
                    // One chunk of a block in this group (G = 32, or an odd tail): its low or its high nibbles.
                    bool high = (c & 1) != 0;
                    var u0 = Nibbles(Vector256.Load(w0 + offset), high, low); var u1 = Nibbles(Vector256.Load(w1 + offset), high, low);
                    pa0 += Pair1<TDot>(u0, u1, a + x);
                    if (TRows.Count > 1) pa1 += Pair1<TDot>(u0, u1, a1 + x);
                    if (TRows.Count > 2) { pa2 += Pair1<TDot>(u0, u1, a2 + x); pa3 += Pair1<TDot>(u0, u1, a3 + x); }
                    var u2 = Nibbles(Vector256.Load(w2 + offset), high, low); var u3 = Nibbles(Vector256.Load(w3 + offset), high, low);
                    pb0 += Pair1<TDot>(u2, u3, a + x);
                    if (TRows.Count > 1) pb1 += Pair1<TDot>(u2, u3, a1 + x);
                    if (TRows.Count > 2) { pb2 += Pair1<TDot>(u2, u3, a2 + x); pb3 += Pair1<TDot>(u2, u3, a3 + x); }
                    c++;
                }
            }
            var s = TScales.Load4(scales + 4 * g * TScales.Bytes);
            acc0 = Fold(acc0, pa0, pb0, corrections + 4 * g, s);
            if (TRows.Count > 1) acc1 = Fold(acc1, pa1, pb1, k1 + 4 * g, s);
            if (TRows.Count > 2)
            {
                acc2 = Fold(acc2, pa2, pb2, k2 + 4 * g, s);
                acc3 = Fold(acc3, pa3, pb3, k3 + 4 * g, s);
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

    /// <summary>Two channels' dots with one row over a whole block (chunks at x and x + 32), paired: hadd(d_first, d_second).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Pair2<TDot>(Vector256<byte> l0, Vector256<byte> h0, Vector256<byte> l1, Vector256<byte> h1, sbyte* x)
        where TDot : struct, IByteDot
        => TDot.Pair2(l0, h0, l1, h1, Vector256.Load(x), Vector256.Load(x + 32));

    /// <summary>Two channels' dots with one row over one chunk, paired.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Pair1<TDot>(Vector256<byte> u0, Vector256<byte> u1, sbyte* x) where TDot : struct, IByteDot
        => TDot.Pair(u0, u1, Vector256.Load(x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(Vector256<byte> v, bool high, Vector256<byte> low) => (high ? High(v) : v) & low;

    /// <summary>acc + (float)(d − <paramref name="correction"/>) · s, the correction 8·Σa, with d = the four channels' dots from hadd(A, B) (a separate multiply and add).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Fold(Vector128<float> acc, Vector256<int> pa, Vector256<int> pb, int* correction, Vector128<float> s)
    {
        var h = Avx2.HorizontalAdd(pa, pb);
        return acc + Vector128.ConvertToSingle(h.GetLower() + h.GetUpper() - Vector128.Load(correction)) * s;
    }

    /// <summary>
    /// G = 32, one row: groups g (low nibbles, chunk at x) and g + 1 (high nibbles, x + 32) of the four channels, their
    /// dots side by side as [d_g | d_g+1] (vperm2i128), corrected, converted and scaled in 256 bits, then folded in the
    /// reference's order: (acc + p_g) + p_g+1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Fold2<TDot>(Vector128<float> acc, Vector256<byte> l0, Vector256<byte> h0, Vector256<byte> l1, Vector256<byte> h1,
                                                Vector256<byte> l2, Vector256<byte> h2, Vector256<byte> l3, Vector256<byte> h3,
                                                sbyte* x, int* correction, Vector256<float> s) where TDot : struct, IByteDot
    {
        var x0 = Vector256.Load(x); var x1 = Vector256.Load(x + 32);
        var hg = Avx2.HorizontalAdd(TDot.Pair(l0, l1, x0), TDot.Pair(l2, l3, x0));
        var hh = Avx2.HorizontalAdd(TDot.Pair(h0, h1, x1), TDot.Pair(h2, h3, x1));
        var d = Avx2.Permute2x128(hg, hh, 0x20) + Avx2.Permute2x128(hg, hh, 0x31) - Vector256.Load(correction);
        var p = Vector256.ConvertToSingle(d) * s;
        return acc + p.GetLower() + p.GetUpper();
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
