using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// AVX2 + FMA W4A16 kernel with in-place nibble dequantization: a 64-column block (32 packed bytes) loads as one ymm of
/// 8 dwords and nibble i of every dword becomes the float 1 + u/16 = 1.5 + q/16 with no zero-extension and no int→float
/// conversion (bits ((d ≪ 19 − 4i) AND 0x00780000) OR 0x3F800000, see <see cref="INibbles256"/>). The activations are
/// permuted once per call (<see cref="LinearW4A16Avx2Activations"/>) into the order the nibbles come out. The default,
/// where <see cref="DenormalFloats.Enabled"/>, is the denormal form (<see cref="DenormalNibbles"/>): the nibble masked in
/// place is read as a denormal float, one AND per 8 weights instead of shift, and, or.
/// </summary>
/// <remarks>
/// <para><b>Arithmetic.</b> Per block b, row m, channel c and scale group g (at G = 32 the even nibbles, columns 0..31 of
/// the block, and the odd ones, 32..63, are two groups; otherwise the block has one): P = −1.5·Σx + Σ x·(1.5 + q/16) =
/// Σ x·q/16, an FMA chain per lane that starts from the precomputed −1.5·Σx of the same lanes (so no offset subtraction
/// remains), then acc += S·P with S the group's scale broadcast, and finally y = 16·Reduce(acc). The scale is applied
/// once per group and lane to a partial sum, not per weight. G = 64, 128 and per channel (<see cref="GroupIndex.BlockShift"/>
/// 0, 1, 30) run one chain of 8 FMAs per block and fold once; G = 32 runs the even chain, folds, then the odd chain
/// (from its own −1.5·Σx) and folds again. The loop-carried chain is acc: 1..2 FMAs per block, while the partial sums
/// of consecutive blocks are independent.</para>
/// <para><b>Op count per 8 weights.</b> 3 integer ops (shift, and, or: no vpternlogd on AVX2) once per tile, then 1 FMA
/// per row; per block and row 1 (G ≥ 64) or 2 (G = 32) fold FMAs and as many start loads. A vpshufb form (2 ops per 8
/// weights + 4 per block, the same floats) measured no faster (benchmarks/W4A16Avx2Ab: equal at M = 1, 9-38 % slower
/// at M ≥ 2 in these two-channel tiles, whose registers its two helper vectors per channel overflow; 0-12 % slower at
/// M ≥ 4 in one-channel tiles), and the old kernel's zero-extend form costs 5 ops + 1 FMA per row. The denormal form
/// costs 1 op per 8 weights + 1 per block: on the Zen 3 VM (AVX2 only) a one-token W4A16 forward of the TinyLlama-1.1B
/// shape took 0.83x the shift form's time, and 2-8-token forwards 1.00x (`denormab 30 32`, docs/results.md).</para>
/// <para><b>Order.</b> Every row's operations (which FMAs, in which order, into which lane) are fixed by its own
/// activations and the weights: they depend on neither M, the row tile, the channel pairing nor the thread split (by
/// channel), so a row gives the same bits in any batch. <see cref="Reference"/> is the same arithmetic in scalar code
/// (bit-identical by construction, and tested so).</para>
/// <para><b>Tiles.</b> Two channels × 1..2 rows (<see cref="RowTile"/>): each activation load feeds both channels
/// (at M ≥ 2 the kernel is otherwise bound by the two 256-bit loads per cycle, one per FMA), and a block is dequantized
/// once per tile. Live: 4 accumulators, 4 partial sums, 2 packed dword vectors, 2 weight vectors, the activation and
/// the two constants = 15 of the 16 ymm registers; 3 rows spill (measured 0-29 % slower). One-channel tiles of 3..6
/// rows (the same per-row operations, a third of the integer work per row) measured 6-9 % slower at M = 4 and up to
/// 28 % slower at M = 8 (one shape 3 % faster): each activation is loaded once per FMA, and two 256-bit loads per cycle
/// are then the bound. Rows run in tiles of 2 over
/// the whole of K (no K chunks: chunks of 4..64 blocks that keep all rows' activations in L1 measured 0-11 % slower
/// than none, the per-call overhead outweighing the L2 reads), so past a tile a pair is dequantized again, from L1.</para>
/// <para><b>Padding.</b> A row is a whole number of blocks (K padded to 64 with u = 8 nibbles, multiplied by zero
/// activations); at G = 32 the odd group of a last block may lie past K, and its index is clamped (its lanes see zero
/// activations). Every other group index is in range: 2b ≤ last, and b ≫ BlockShift ≤ last.</para>
/// </remarks>
internal static unsafe partial class LinearW4A16Avx2
{
    /// <summary>Channels per block of the driver (and the alignment of a thread's channel range).</summary>
    public const int ChannelBlock = 4;
    /// <summary>Floats of permuted activations per block and row: 8 nibble vectors, then −1.5·Σx of the even and odd halves (or of all, at 64, and zeros).</summary>
    public const int BlockFloats = 80;
    /// <summary>Rows per tile (of two channels): 15 live ymm registers.</summary>
    public const int RowTile = 2;

    /// <summary>
    /// Software prefetch distance in channels (rows of W): each block's 32 bytes are prefetched 8 channels (four channel
    /// pairs) before use, as in <see cref="LinearW4A16Nibble.PrefetchRows"/> (4 and 16 measured the same as 8 within
    /// this host's noise, ±5 %, at M = 1, 2, 8); G = 32 also prefetches its scales (one
    /// 64-byte line per 8 blocks, asked for every 4).
    /// </summary>
    public const int PrefetchRows = 8;

    /// <summary>Vector256 accumulators <see cref="Run"/> needs for <paramref name="rows"/> rows.</summary>
    public static int AccumulatorCount(int rows) => ChannelBlock * rows;

    /// <summary>Floats of scratch for one channel block's scales converted from fp16 (a whole number of 8-lane steps).</summary>
    public static int HalfScaleScratch(int groupCount) => (ChannelBlock * groupCount + 7) / 8 * 8;

    /// <summary>
    /// Y[m, j] for m &lt; rows and channels j in [start, end) of an INT4 matrix; x is the permuted activations of
    /// <see cref="LinearW4A16Avx2Activations.Permute"/> (split iff G = 32) with row stride xs, y has row stride n;
    /// <paramref name="acc"/> holds <see cref="AccumulatorCount"/> vectors of scratch. With <paramref name="halfScales"/>
    /// (the scales as fp16 bits, padded by 16 entries; null for fp32 scales) each channel block's scales are converted
    /// exactly (<see cref="HalfScales"/>) into <paramref name="halfScratch"/> (<see cref="HalfScaleScratch"/> floats, stays
    /// in L1) and the tiles read them there: the same floats, so the same bits, at 2 bytes per scale from memory.
    /// </summary>
    public static void Run(byte* data, float* scales, ushort* halfScales, float* halfScratch, int rowBytes, int groupCount, GroupIndex groups,
                           int n, int start, int end, int rows, float* x, int xs, float* y, Vector256<float>* acc, bool denormal = false)
    {
        if (denormal)
        {
            if (groups.BlockShift < 0) Run<SplitGroups, DenormalNibbles>(data, scales, halfScales, halfScratch, rowBytes, groupCount, groups, n, start, end, rows, x, xs, y, acc);
            else Run<BlockGroups, DenormalNibbles>(data, scales, halfScales, halfScratch, rowBytes, groupCount, groups, n, start, end, rows, x, xs, y, acc);
        }
        else if (groups.BlockShift < 0) Run<SplitGroups, ShiftNibbles>(data, scales, halfScales, halfScratch, rowBytes, groupCount, groups, n, start, end, rows, x, xs, y, acc);
        else Run<BlockGroups, ShiftNibbles>(data, scales, halfScales, halfScratch, rowBytes, groupCount, groups, n, start, end, rows, x, xs, y, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Run<TG, TD>(byte* data, float* scales, ushort* halfScales, float* halfScratch, int rowBytes, int groupCount, GroupIndex groups,
                                     int n, int start, int end, int rows, float* x, int xs, float* y, Vector256<float>* acc)
        where TG : struct, IGroupSplit where TD : struct, INibbles256
    {
        int shift = groups.BlockShift, last = groups.Last, blocks = xs / BlockFloats;
        long ahead = (long)PrefetchRows * rowBytes;
        // fp16 scales come from scratch (in L1): the tiles' scale prefetch is then off, the conversion prefetches instead.
        long aheadScales = halfScales == null ? (long)PrefetchRows * groupCount : 0;
        for (int j0 = start; j0 < end; j0 += ChannelBlock)
        {
            int jn = Math.Min(ChannelBlock, end - j0);
            new Span<Vector256<float>>(acc, ChannelBlock * rows).Clear();
            float* blockScales = scales + (long)j0 * groupCount;
            if (halfScales != null)
            {
                // The block's channels are consecutive: one run of jn · groupCount fp16 values (padding covers the last step).
                ushort* h = halfScales + (long)j0 * groupCount;
                int count = jn * groupCount;
                for (int i = 0; i < count; i += 8) HalfScales.ToSingle(Vector128.Load(h + i)).Store(halfScratch + i);
                if (j0 + PrefetchRows < end)
                {
                    byte* next = (byte*)(h + (long)PrefetchRows * groupCount);
                    for (int b = 0; b < ChannelBlock * groupCount * 2; b += 64) CpuPrefetch.Line(next + b);
                }
                blockScales = halfScratch;
            }
            for (int c = 0; c < jn; c += 2)
            {
                // Channels in pairs; an odd last one is paired with itself (computed twice, stored once).
                int c1 = Math.Min(c + 1, jn - 1);
                byte* w0 = data + (long)(j0 + c) * rowBytes, w1 = data + (long)(j0 + c1) * rowBytes;
                float* s0 = blockScales + (long)c * groupCount, s1 = blockScales + (long)c1 * groupCount;
                Vector256<float>* a = acc + c * rows;
                for (int m0 = 0; m0 < rows; m0 += RowTile)
                {
                    float* xm = x + (long)m0 * xs;
                    if (rows - m0 == 1) Tile<OneRow, TG, TD>(w0, w1, s0, s1, shift, last, ahead, aheadScales, 0, blocks, xm, xs, a + m0, rows);
                    else Tile<TwoRows, TG, TD>(w0, w1, s0, s1, shift, last, ahead, aheadScales, 0, blocks, xm, xs, a + m0, rows);
                }
            }
            for (int c = 0; c < jn; c++)
                for (int m = 0; m < rows; m++)
                    y[(long)m * n + j0 + c] = TD.OutputScale * Reduce(acc[c * rows + m]);
        }
    }

    /// <summary>The fixed horizontal sum: halves down to four lanes, then pairwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector256<float> a)
    {
        var q = a.GetLower() + a.GetUpper();
        return (q.GetElement(0) + q.GetElement(1)) + (q.GetElement(2) + q.GetElement(3));
    }

    /// <summary>
    /// Scalar model of <see cref="Run"/> for one row and channel: the same lanes, the same FMA chains (MathF.FusedMultiplyAdd),
    /// the same folds and the same reduction, so it returns the kernel's bits exactly. <paramref name="xp"/> is the row's
    /// permuted activations (<see cref="LinearW4A16Avx2Activations.Stride"/> floats) in the layout of the form
    /// (<paramref name="denormal"/>: <see cref="DenormalNibbles"/>, else <see cref="ShiftNibbles"/>).
    /// </summary>
    public static float Reference(Int4Matrix w, int j, ReadOnlySpan<float> xp, bool denormal = false)
    {
        var groups = new GroupIndex(w);
        bool split = groups.BlockShift < 0;
        int blocks = w.PaddedColumns / 64, last = groups.Last;
        Span<float> a = stackalloc float[8], q = stackalloc float[8];
        a.Clear();
        var row = w.Data.AsSpan(j * w.RowBytes, w.RowBytes);
        var s = w.Scales.AsSpan(j * w.GroupCount, w.GroupCount);
        for (int b = 0; b < blocks; b++)
        {
            var xb = xp.Slice(BlockFloats * b, BlockFloats);
            for (int half = 0; half < 2; half++)
            {
                if (half == 0 || split)
                    for (int l = 0; l < 8; l++) q[l] = xb[64 + 8 * half + l];
                for (int i = half; i < 8; i += 2)
                    for (int l = 0; l < 8; l++)
                    {
                        int u = (row[32 * b + 4 * l + i / 2] >> (4 * (i & 1))) & 15;
                        // Shift form: 1 + u/16; denormal form: the masked nibble's bits, u·2^(4·(i mod 4) − 149).
                        float weight = denormal ? BitConverter.Int32BitsToSingle(u << (4 * (i & 3))) : 1f + u / 16f;
                        q[l] = MathF.FusedMultiplyAdd(xb[8 * i + l], weight, q[l]);
                    }
                if (half == 1 || split)
                {
                    float sc = s[split ? Math.Min(2 * b + half, last) : Math.Min(b >> groups.BlockShift, last)];
                    for (int l = 0; l < 8; l++) a[l] = MathF.FusedMultiplyAdd(sc, q[l], a[l]);
                }
            }
        }
        float outScale = denormal ? DenormalNibbles.OutputScale : ShiftNibbles.OutputScale;
        return outScale * (((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])));
    }
}

/// <summary>
/// The in-place dequantization of one block's dword vector d: Nibble{i} gives, in lane l, the float 1 + u/16 of nibble i
/// of dword l, i.e. bits ((d ≪ 19 − 4i) AND 0x00780000) OR 0x3F800000 (the nibble lands on mantissa bits 19..22 under
/// the exponent of 1.0). <see cref="Prepare"/> may derive two helper vectors once per block (for even and odd nibbles).
/// </summary>
internal interface INibbles256
{
    /// <summary>y = OutputScale · Reduce(acc): 16 for the 1 + u/16 form (the chains sum x·q/16).</summary>
    static virtual float OutputScale => 16f;
    static abstract void Prepare(Vector256<uint> d, out Vector256<uint> even, out Vector256<uint> odd);
    static abstract Vector256<float> Nibble0(Vector256<uint> d, Vector256<uint> even);
    static abstract Vector256<float> Nibble1(Vector256<uint> d, Vector256<uint> odd);
    static abstract Vector256<float> Nibble2(Vector256<uint> d, Vector256<uint> even);
    static abstract Vector256<float> Nibble3(Vector256<uint> d, Vector256<uint> odd);
    static abstract Vector256<float> Nibble4(Vector256<uint> d, Vector256<uint> even);
    static abstract Vector256<float> Nibble5(Vector256<uint> d, Vector256<uint> odd);
    static abstract Vector256<float> Nibble6(Vector256<uint> d, Vector256<uint> even);
    static abstract Vector256<float> Nibble7(Vector256<uint> d, Vector256<uint> odd);
}

/// <summary>Shift, and, or: 3 ops per 8 weights (left shifts for nibbles 0..4, right shifts for 5..7).</summary>
internal struct ShiftNibbles : INibbles256
{
    public static float OutputScale => 16f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prepare(Vector256<uint> d, out Vector256<uint> even, out Vector256<uint> odd) { even = d; odd = d; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> F(Vector256<uint> v) => ((v & Vector256.Create(0x00780000u)) | Vector256.Create(0x3F800000u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble0(Vector256<uint> d, Vector256<uint> e) => F(Avx2.ShiftLeftLogical(d, 19));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble1(Vector256<uint> d, Vector256<uint> o) => F(Avx2.ShiftLeftLogical(d, 15));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble2(Vector256<uint> d, Vector256<uint> e) => F(Avx2.ShiftLeftLogical(d, 11));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble3(Vector256<uint> d, Vector256<uint> o) => F(Avx2.ShiftLeftLogical(d, 7));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble4(Vector256<uint> d, Vector256<uint> e) => F(Avx2.ShiftLeftLogical(d, 3));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble5(Vector256<uint> d, Vector256<uint> o) => F(Avx2.ShiftRightLogical(d, 1));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble6(Vector256<uint> d, Vector256<uint> e) => F(Avx2.ShiftRightLogical(d, 5));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble7(Vector256<uint> d, Vector256<uint> o) => F(Avx2.ShiftRightLogical(d, 9));
}

/// <summary>
/// The denormal form: nibble i of each dword isolated by an AND alone, left in place at bits 4j..4j+3 (j = i mod 4;
/// nibbles 4..7 from the dword shifted right by 16 once per block), which read as a float is the denormal u·2^(4j − 149).
/// 1 op per 8 weights plus 1 per block, against 3 per 8 for <see cref="ShiftNibbles"/>. The activations of vector i are
/// pre-scaled by 2^(E − 4j) and the chains start from −8·2^(E − 149)·Σx (<see cref="LinearW4A16Avx2Activations"/>,
/// E = <see cref="LinearW4A16NibbleActivations.DenormalExponent"/>), so every chain sums x·(u − 8)·2^(E − 149) and
/// y = 2^(149 − E)·Reduce(acc). Needs denormals kept and fast (<see cref="DenormalFloats"/>); range as the AVX-512 form:
/// exact scaling for |x| &lt; 2^48, products normal for |x| ≥ 2^−57.
/// </summary>
internal struct DenormalNibbles : INibbles256
{
    public static float OutputScale => MathF.ScaleB(1f, 149 - LinearW4A16NibbleActivations.DenormalExponent);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prepare(Vector256<uint> d, out Vector256<uint> even, out Vector256<uint> odd) { even = Avx2.ShiftRightLogical(d, 16); odd = even; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble0(Vector256<uint> d, Vector256<uint> h) => (d & Vector256.Create(0x000Fu)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble1(Vector256<uint> d, Vector256<uint> h) => (d & Vector256.Create(0x00F0u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble2(Vector256<uint> d, Vector256<uint> h) => (d & Vector256.Create(0x0F00u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble3(Vector256<uint> d, Vector256<uint> h) => (d & Vector256.Create(0xF000u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble4(Vector256<uint> d, Vector256<uint> h) => (h & Vector256.Create(0x000Fu)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble5(Vector256<uint> d, Vector256<uint> h) => (h & Vector256.Create(0x00F0u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble6(Vector256<uint> d, Vector256<uint> h) => (h & Vector256.Create(0x0F00u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble7(Vector256<uint> d, Vector256<uint> h) => (h & Vector256.Create(0xF000u)).AsSingle();
}
