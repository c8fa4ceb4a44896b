using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>How an INT4 row's scale groups sit in its 128-column super blocks (one 64-byte load each).</summary>
internal interface IGroupLayout
{
    /// <summary>Scale groups per super block: 0 = one group spans the whole row (per channel), else 1 (G = 128), 2 (G = 64) or 4 (G = 32).</summary>
    static abstract int PerSuperBlock { get; }
}

internal struct PerChannelGroups : IGroupLayout { public static int PerSuperBlock => 0; }
internal struct Groups128 : IGroupLayout { public static int PerSuperBlock => 1; }
internal struct Groups64 : IGroupLayout { public static int PerSuperBlock => 2; }
internal struct Groups32 : IGroupLayout { public static int PerSuperBlock => 4; }

/// <summary>
/// AVX-512BW integer linear kernel (W4A4 / W4A8) over tiles of 16 (row, channel) pairs: 16 channels × 1 row, 8 × 2 or
/// 4 × 4. Each 64-byte weight load (two 64-column blocks, one super block of 128 columns) is split into nibbles once and
/// multiplied with every row of the tile, so a weight byte is read from memory once for all M rows of a call.
/// </summary>
/// <remarks>
/// <para><b>Activation order.</b> In a super block the low nibbles hold columns 0..31 and 64..95, the high nibbles 32..63
/// and 96..127; the quantizer writes <see cref="CpuQuantizedActivations.Interleaved"/> in that order, so the products are
/// two vpmaddubsw (u unsigned ≤ 15, a signed: a pair sum is at most 2·15·127 and cannot saturate) and one vpmaddwd.</para>
/// <para><b>Groups.</b> A 128-bit lane of a product holds 16 columns, so after the two in-lane reduction steps (unpack
/// 32, unpack 64) a vector holds, per lane, the sum of its 16 columns for four pairs. Lanes are then added across
/// per group: all four for G = 128 (or across super blocks for per-channel scales), pairs of lanes for G = 64, and
/// low and high nibbles kept apart for G = 32. The exact int32 group dot gets the nibble correction −8·Σa and is
/// folded as acc = acc + (float)dot · s_w (separate multiply and add) in ascending group order, then multiplied by
/// s_a: the reference's float order, lane by lane, so results are bitwise equal to it for every M and tiling.</para>
/// <para><b>Scales.</b> s_w is read as fp32 or, when every scale of the matrix is an fp16 value, as fp16 bits converted
/// exactly (<see cref="IBlockScales"/>): the same floats either way, so the same bits.</para>
/// </remarks>
internal static unsafe class LinearIntAvx512
{
    /// <summary>Pairs (rows × channels) per tile, and the channel block a thread's range is aligned to.</summary>
    public const int Pairs = 16;

    /// <summary>
    /// Whether the tiles prefetch the next 16-channel block's scales at G = 32 and 64 (default true; same bits either way).
    /// The scales are 1/9 (G = 32, fp16) of the bytes and the hardware prefetcher missed them among the 16 weight-row
    /// streams of a tile. Measured (`intprefab`, interleaved, 4 Dec 2026, Zen 5 VM, weights from memory): G = 32 M = 1
    /// 0.94-1.02 of the time without (median of five shapes ~0.97), M = 4 0.86-0.98; G = 64 M = 1 0.93-1.0. At G = 128
    /// (a quarter of a line per super block) it measured 0.97-1.04 and is not done. Written only by that benchmark.
    /// </summary>
    internal static bool PrefetchScales = true;

    /// <summary>Parameters shared by every tile of one call.</summary>
    public readonly struct Shape(int rowBytes, int superBlocks, bool halfLast, int groupCount, int scaleStride, int activationStride)
    {
        /// <summary>Bytes per packed weight row.</summary>
        public readonly int RowBytes = rowBytes;
        /// <summary>128-column super blocks per row, the last one possibly half (64 columns).</summary>
        public readonly int SuperBlocks = superBlocks;
        /// <summary>Whether the last super block holds only one 64-column block (K padded to 64 but not 128).</summary>
        public readonly bool HalfLast = halfLast;
        /// <summary>Scale groups per row.</summary>
        public readonly int GroupCount = groupCount;
        /// <summary>Elements from one group's scales to the next (16: <see cref="CpuMatrix.BlockScales"/>, <see cref="CpuMatrix.BlockHalfScales"/>).</summary>
        public readonly int ScaleStride = scaleStride;
        /// <summary>Row stride of the interleaved activations (K rounded up to 128).</summary>
        public readonly int ActivationStride = activationStride;
    }

    /// <summary>
    /// Y for rows m0 .. m0 + TR − 1 and the <c>16 / TR</c> channels starting at row pointer <paramref name="w"/> (channel j0).
    /// </summary>
    /// <param name="w">Packed row of channel j0; channels past N are clamped to row N − 1 by <paramref name="lastRow"/>.</param>
    /// <param name="scales">Block scales at channel j0, in <typeparamref name="TS"/>'s layout: scale[j0 + c, g] is element g · ScaleStride + c.</param>
    /// <param name="x">Interleaved activations of row m0.</param>
    /// <param name="corrections">Per group, 16 ints: 8·Σa of the group for the row of each pair lane.</param>
    /// <param name="activationScales">16 floats: s_a of the row of each pair lane.</param>
    /// <param name="result">16 floats out, lane p = r · C + c.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TR, TG, TS>(byte* w, byte* lastRow, byte* scales, in Shape shape, sbyte* x, int* corrections,
                                        float* activationScales, float* result)
        where TR : struct, IRowTile where TG : struct, IGroupLayout where TS : struct, IBlockScales
    {
        int channels = Pairs / TR.Count, rb = shape.RowBytes, xs = shape.ActivationStride;
        byte* w0 = w, w1 = Clamp(w + rb, lastRow), w2 = Clamp(w + 2 * rb, lastRow), w3 = Clamp(w + 3 * rb, lastRow);
        byte* w4 = null, w5 = null, w6 = null, w7 = null;
        if (channels >= 8)
        {
            w4 = Clamp(w + 4 * rb, lastRow); w5 = Clamp(w + 5 * rb, lastRow); w6 = Clamp(w + 6 * rb, lastRow); w7 = Clamp(w + 7 * rb, lastRow);
        }
        byte* w8 = null, w9 = null, w10 = null, w11 = null, w12 = null, w13 = null, w14 = null, w15 = null;
        if (channels == 16)
        {
            w8 = Clamp(w + 8 * rb, lastRow); w9 = Clamp(w + 9 * rb, lastRow); w10 = Clamp(w + 10 * rb, lastRow); w11 = Clamp(w + 11 * rb, lastRow);
            w12 = Clamp(w + 12 * rb, lastRow); w13 = Clamp(w + 13 * rb, lastRow); w14 = Clamp(w + 14 * rb, lastRow); w15 = Clamp(w + 15 * rb, lastRow);
        }
        // The next tile: with 2 and 4 rows, each load prefetches the next tile's row at its offset; with one row, the
        // next tile's bytes are prefetched in address order (below). All go through CpuPrefetch: into L1 or L2 by
        // machine (on Zen 4, T1 measured 1.5-1.7x faster at M = 1 and 2). Measured with T0 (`intprefab`,
        // interleaved, 4 Dec 2026, Zen 5 VM, weights from memory, G = 32, median per-batch ratios):
        // - T0 against the earlier T1, both with the scale prefetch: 0.80-0.98 at M = 1..4 in one run, 0.81-1.0 in a
        //   second; G = 128 0.80-1.06, per channel 0.71-0.97.
        // - one-row tiles, address order against per-row offsets: 0.82-0.99 at M = 1 over three runs (most 0.86-0.92),
        //   and 0.924 of a W4A8 decode forward (300 alternated pairs); for the 2- and 4-row tiles it read 1.0-1.1, so
        //   they keep the per-row prefetch.
        long ahead = (long)channels * rb;
        byte* next = w + ahead;
        // G = 32 and 64 (one or two 64-byte lines of scales per super block and 16 channels): the next 16-channel block's
        // scales of the same groups, prefetched with the weights (a block's 2 or 4 tiles of 8 or 4 channels prefetch them each).
        long scaleAhead = TG.PerSuperBlock >= 2 && PrefetchScales ? (long)shape.GroupCount * shape.ScaleStride * TS.Bytes : 0;
        int scaleBytes = Math.Max(1, TG.PerSuperBlock) * shape.ScaleStride * TS.Bytes;
        var acc = Vector512<float>.Zero;
        Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default; // per-channel scales: sums over super blocks
        for (int t = 0; t < shape.SuperBlocks; t++)
        {
            bool half = shape.HalfLast && t == shape.SuperBlocks - 1;
            int off = 64 * t;
            if (scaleAhead != 0)
                for (int b = 0; b < scaleBytes; b += 64) CpuPrefetch.Line(scales + scaleAhead + (long)t * scaleBytes + b);
            Vector512<int> b0, b1, b2, b3, h0 = default, h1 = default, h2 = default, h3 = default;
            if (TR.Count == 1)
            {
                // The next tile's 16 rows in address order, 16 lines per super block: they are one contiguous run
                // (16 · RowBytes), all prefetched by the tile's last super block.
                byte* pf = next + (long)t * 16 * 64;
                for (int c = 0; c < 16 * 64; c += 64) CpuPrefetch.Line(pf + c);
                // 16 channels × row 0: quad q = channels 4q .. 4q + 3.
                var xl = Vector512.Load(x + 2 * off); var xh = Vector512.Load(x + 2 * off + 64);
                Quad<TG, TR>(w0, w1, w2, w3, off, half, ahead, xl, xh, out b0, out h0);
                Quad<TG, TR>(w4, w5, w6, w7, off, half, ahead, xl, xh, out b1, out h1);
                Quad<TG, TR>(w8, w9, w10, w11, off, half, ahead, xl, xh, out b2, out h2);
                Quad<TG, TR>(w12, w13, w14, w15, off, half, ahead, xl, xh, out b3, out h3);
            }
            else if (TR.Count == 2)
            {
                // 8 channels × 2 rows: quads (r0, c0-3), (r0, c4-7), (r1, c0-3), (r1, c4-7). Row 1 loads the eight rows'
                // bytes again (L1 hits; its "prefetch" is of the line itself) and splits them again: holding all sixteen
                // nibble vectors across both rows made the JIT spill, and the G = 32 two-row tile ran at a quarter of the
                // one-row tile's rate.
                var xl = Vector512.Load(x + 2 * off); var xh = Vector512.Load(x + 2 * off + 64);
                Quad<TG, TR>(w0, w1, w2, w3, off, half, ahead, xl, xh, out b0, out h0);
                Quad<TG, TR>(w4, w5, w6, w7, off, half, ahead, xl, xh, out b1, out h1);
                xl = Vector512.Load(x + xs + 2 * off); xh = Vector512.Load(x + xs + 2 * off + 64);
                Quad<TG, TR>(w0, w1, w2, w3, off, half, 0, xl, xh, out b2, out h2);
                Quad<TG, TR>(w4, w5, w6, w7, off, half, 0, xl, xh, out b3, out h3);
            }
            else
            {
                // 4 channels × 4 rows: quad r = row r.
                Split4<TR>(w0, w1, w2, w3, off, half, ahead, out var l0, out var u0, out var l1, out var u1, out var l2, out var u2, out var l3, out var u3);
                sbyte* xr = x + 2 * off;
                Dots<TG>(l0, u0, l1, u1, l2, u2, l3, u3, Vector512.Load(xr), Vector512.Load(xr + 64), out b0, out h0);
                xr += xs;
                Dots<TG>(l0, u0, l1, u1, l2, u2, l3, u3, Vector512.Load(xr), Vector512.Load(xr + 64), out b1, out h1);
                xr += xs;
                Dots<TG>(l0, u0, l1, u1, l2, u2, l3, u3, Vector512.Load(xr), Vector512.Load(xr + 64), out b2, out h2);
                xr += xs;
                Dots<TG>(l0, u0, l1, u1, l2, u2, l3, u3, Vector512.Load(xr), Vector512.Load(xr + 64), out b3, out h3);
            }
            if (TG.PerSuperBlock == 0) { s0 += b0; s1 += b1; s2 += b2; s3 += b3; continue; }
            if (TG.PerSuperBlock == 1)
            {
                acc = Fold<TR, TS>(acc, AllLanes(b0, b1, b2, b3), t, shape, scales, corrections);
                continue;
            }
            // Lane pairs: (L0 + L1, L2 + L3) of each vector, then the first and second halves' groups of all four quads.
            var c0 = LanePairs(b0, b1); var c1 = LanePairs(b2, b3);
            if (TG.PerSuperBlock == 2)
            {
                acc = Fold<TR, TS>(acc, Avx512F.Shuffle4x128(c0, c1, 0x88), 2 * t, shape, scales, corrections);
                acc = Fold<TR, TS>(acc, Avx512F.Shuffle4x128(c0, c1, 0xDD), 2 * t + 1, shape, scales, corrections);
                continue;
            }
            // G = 32: groups 4t .. 4t + 3 are low L0L1, high L0L1, low L2L3, high L2L3.
            var d0 = LanePairs(h0, h1); var d1 = LanePairs(h2, h3);
            acc = Fold<TR, TS>(acc, Avx512F.Shuffle4x128(c0, c1, 0x88), 4 * t, shape, scales, corrections);
            acc = Fold<TR, TS>(acc, Avx512F.Shuffle4x128(d0, d1, 0x88), 4 * t + 1, shape, scales, corrections);
            acc = Fold<TR, TS>(acc, Avx512F.Shuffle4x128(c0, c1, 0xDD), 4 * t + 2, shape, scales, corrections);
            acc = Fold<TR, TS>(acc, Avx512F.Shuffle4x128(d0, d1, 0xDD), 4 * t + 3, shape, scales, corrections);
        }
        if (TG.PerSuperBlock == 0) acc = Fold<TR, TS>(acc, AllLanes(s0, s1, s2, s3), 0, shape, scales, corrections);
        Avx512F.Store(result, acc * Avx512F.LoadVector512(activationScales));
    }

    /// <summary>
    /// The per-call inputs of the tiles, for row chunks of 4 (<paramref name="fours"/> of them), then 2, then 1 rows:
    /// per chunk and group the 16 lanes' corrections 8·Σa (lane p belongs to row m0 + p / (16 / TR)), and per chunk the
    /// 16 lanes' activation scales. Each row's group sums are formed once from the 32-column chunk sums, then spread.
    /// </summary>
    public static void Prepare(CpuQuantizedActivations q, int fours, int twos, int ones, int groupCount, int groupChunks, int chunksPerRow,
                               int[] corrections, float[] rowScales)
    {
        int rows = 4 * fours + 2 * twos + ones, chunkCount = fours + twos + ones;
        int[]? rented = null;
        Span<int> sums = rows * groupCount <= 1024 ? stackalloc int[rows * groupCount] : (rented = System.Buffers.ArrayPool<int>.Shared.Rent(rows * groupCount));
        var chunkSums = q.ChunkSums;
        for (int m = 0; m < rows; m++)
        {
            int row = m * chunksPerRow;
            for (int g = 0; g < groupCount; g++)
            {
                int sum = 0;
                for (int c = g * groupChunks, end = Math.Min(chunksPerRow, c + groupChunks); c < end; c++) sum += chunkSums[row + c];
                sums[m * groupCount + g] = Int4Matrix.NibbleOffset * sum;
            }
        }
        for (int ci = 0; ci < chunkCount; ci++)
        {
            int m0 = ci < fours ? 4 * ci : ci < fours + twos ? 4 * fours + 2 * (ci - fours) : 4 * fours + 2 * twos;
            int tr = ci < fours ? 4 : ci < fours + twos ? 2 : 1, channels = Pairs / tr;
            var cs = corrections.AsSpan(ci * groupCount * Pairs, groupCount * Pairs);
            if (tr == 1)
            {
                rowScales.AsSpan(ci * Pairs, Pairs).Fill(q.Scales[m0]);
                for (int g = 0; g < groupCount; g++) Vector512.Create(sums[m0 * groupCount + g]).CopyTo(cs.Slice(g * Pairs));
                continue;
            }
            for (int p = 0; p < Pairs; p++)
            {
                int m = m0 + p / channels;
                rowScales[ci * Pairs + p] = q.Scales[m];
                for (int g = 0; g < groupCount; g++) cs[g * Pairs + p] = sums[m * groupCount + g];
            }
        }
        if (rented is not null) System.Buffers.ArrayPool<int>.Shared.Return(rented);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* Clamp(byte* p, byte* last) => p > last ? last : p;

    /// <summary>
    /// acc + (float)(dot − 8·Σa) · s_w for group <paramref name="g"/>, lane p = r · C + c taking channel c's scale;
    /// groups past the row's last (all-padding halves) are skipped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fold<TR, TS>(Vector512<float> acc, Vector512<int> dots, int g, in Shape shape, byte* scales, int* corrections)
        where TR : struct, IRowTile where TS : struct, IBlockScales
    {
        if (g >= shape.GroupCount) return acc;
        byte* s = scales + (long)g * shape.ScaleStride * TS.Bytes;
        var sw = TR.Count == 1 ? TS.Load16(s) : TR.Count == 2 ? TS.Load8x2(s) : TS.Load4x4(s);
        return acc + Vector512.ConvertToSingle(dots - Vector512.Load(corrections + 16 * g)) * sw;
    }

    /// <summary>
    /// Loads one super block of four channel rows and splits it into nibbles; in 2- and 4-row tiles (<typeparamref name="TR"/>)
    /// each load also prefetches the next tile's row at its offset (one-row tiles prefetch in address order instead).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Split4<TR>(byte* w0, byte* w1, byte* w2, byte* w3, int off, bool half, long ahead,
                               out Vector512<byte> l0, out Vector512<byte> u0, out Vector512<byte> l1, out Vector512<byte> u1,
                               out Vector512<byte> l2, out Vector512<byte> u2, out Vector512<byte> l3, out Vector512<byte> u3)
        where TR : struct, IRowTile
    {
        Split<TR>(w0 + off, half, ahead, out l0, out u0); Split<TR>(w1 + off, half, ahead, out l1, out u1);
        Split<TR>(w2 + off, half, ahead, out l2, out u2); Split<TR>(w3 + off, half, ahead, out l3, out u3);
    }

    /// <summary>gf2p8affineqb matrix: result bit i = input bit i + 4 for i &lt; 4 (matrix byte 7 − i selects the input bits of bit i).</summary>
    private const ulong HighNibbleMatrix = 0x1020408000000000UL;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Split<TR>(byte* p, bool half, long ahead, out Vector512<byte> low, out Vector512<byte> high) where TR : struct, IRowTile
    {
        if (TR.Count != 1) CpuPrefetch.Line(p + ahead); // one-row tiles prefetch in address order instead (Tile)
        // A half super block is the row's last 32 bytes: load those only (zero upper half; its activations are zero too).
        var v = half ? Avx512F.InsertVector256(Vector512<byte>.Zero, Vector256.Load(p), 0) : Vector512.Load(p);
        low = v & Vector512.Create((byte)0x0F);
        // GFNI: one affine bit-matrix op per byte maps bits 4..7 to 0..3 and clears the rest (shift and mask in one).
        high = Gfni.V512.IsSupported
            ? Gfni.V512.GaloisFieldAffineTransform(v, Vector512.Create(HighNibbleMatrix).AsByte(), 0)
            : (v.AsUInt16() >>> 4).AsByte() & Vector512.Create((byte)0x0F);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quad<TG, TR>(byte* w0, byte* w1, byte* w2, byte* w3, int off, bool half, long ahead,
                                 Vector512<sbyte> xl, Vector512<sbyte> xh, out Vector512<int> b, out Vector512<int> h)
        where TG : struct, IGroupLayout where TR : struct, IRowTile
    {
        Split4<TR>(w0, w1, w2, w3, off, half, ahead, out var l0, out var u0, out var l1, out var u1, out var l2, out var u2, out var l3, out var u3);
        Dots<TG>(l0, u0, l1, u1, l2, u2, l3, u3, xl, xh, out b, out h);
    }

    /// <summary>
    /// Four channels × one row, reduced within 128-bit lanes (vpmaddubsw per int16: u₀·a₀ + u₁·a₁ of two adjacent
    /// columns, u ≤ 15 and |a| ≤ 127, so at most 3810 and never saturating; called directly, not through a helper, to
    /// keep the tiles under the JIT's inlining budget, past which Fold stopped being inlined): lane L of <paramref name="b"/> holds [Σ c0, Σ c1, Σ c2, Σ c3]
    /// over the 16 columns of L (low and high nibbles added), or, for G = 32, of the low nibbles only, with the high
    /// nibbles' sums in <paramref name="h"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dots<TG>(Vector512<byte> l0, Vector512<byte> u0, Vector512<byte> l1, Vector512<byte> u1,
                                 Vector512<byte> l2, Vector512<byte> u2, Vector512<byte> l3, Vector512<byte> u3,
                                 Vector512<sbyte> xl, Vector512<sbyte> xh, out Vector512<int> b, out Vector512<int> h)
        where TG : struct, IGroupLayout
    {
        if (TG.PerSuperBlock == 4)
        {
            b = Reduce4(Avx512BW.MultiplyAddAdjacent(l0, xl), Avx512BW.MultiplyAddAdjacent(l1, xl), Avx512BW.MultiplyAddAdjacent(l2, xl), Avx512BW.MultiplyAddAdjacent(l3, xl));
            h = Reduce4(Avx512BW.MultiplyAddAdjacent(u0, xh), Avx512BW.MultiplyAddAdjacent(u1, xh), Avx512BW.MultiplyAddAdjacent(u2, xh), Avx512BW.MultiplyAddAdjacent(u3, xh));
        }
        else
        {
            b = Reduce4(Avx512BW.MultiplyAddAdjacent(l0, xl) + Avx512BW.MultiplyAddAdjacent(u0, xh), Avx512BW.MultiplyAddAdjacent(l1, xl) + Avx512BW.MultiplyAddAdjacent(u1, xh),
                        Avx512BW.MultiplyAddAdjacent(l2, xl) + Avx512BW.MultiplyAddAdjacent(u2, xh), Avx512BW.MultiplyAddAdjacent(l3, xl) + Avx512BW.MultiplyAddAdjacent(u3, xh));
            h = default;
        }
    }

    /// <summary>
    /// In each 128-bit lane: [Σ v0, Σ v1, Σ v2, Σ v3] of that lane's eight int16, as int32. Two transposing add levels run
    /// on int16 (unpack 32, unpack 64: each output int16 then sums four inputs, at most 4 · 7620 = 30480 &lt; 2¹⁵, so
    /// exact), and the last pair is summed and widened by one vpmaddwd: 10 instructions for four vectors, against 13
    /// when every vector is widened first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Reduce4(Vector512<short> v0, Vector512<short> v1, Vector512<short> v2, Vector512<short> v3)
    {
        // [v0.01+45, v0.23+67... ] as int16 words: unpack on 32-bit units keeps each vector's word pairs together.
        var a0 = (Avx512F.UnpackLow(v0.AsInt32(), v1.AsInt32()).AsInt16() + Avx512F.UnpackHigh(v0.AsInt32(), v1.AsInt32()).AsInt16()).AsInt64();
        var a1 = (Avx512F.UnpackLow(v2.AsInt32(), v3.AsInt32()).AsInt16() + Avx512F.UnpackHigh(v2.AsInt32(), v3.AsInt32()).AsInt16()).AsInt64();
        var r = Avx512F.UnpackLow(a0, a1).AsInt16() + Avx512F.UnpackHigh(a0, a1).AsInt16();
        return Avx512BW.MultiplyAddAdjacent(r, Vector512.Create((short)1));
    }

    /// <summary>[x.L0 + x.L1, x.L2 + x.L3, y.L0 + y.L1, y.L2 + y.L3] in 128-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> LanePairs(Vector512<int> x, Vector512<int> y)
        => Avx512F.Shuffle4x128(x, y, 0x88) + Avx512F.Shuffle4x128(x, y, 0xDD);

    /// <summary>All four 128-bit lanes added: lane 4q + c = the total of quad q's channel c.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> AllLanes(Vector512<int> b0, Vector512<int> b1, Vector512<int> b2, Vector512<int> b3)
        => LanePairs(LanePairs(b0, b1), LanePairs(b2, b3));
}
