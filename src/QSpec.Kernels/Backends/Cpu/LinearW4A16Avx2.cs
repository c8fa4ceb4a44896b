using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// AVX2 + FMA W4A16 kernel with in-place nibble dequantization: a 64-column block (32 packed bytes) loads as one ymm of
/// 8 dwords and nibble i of every dword becomes the float 1 + u/16 = 1.5 + q/16 with no zero-extension and no int→float
/// conversion (bits ((d ≪ 19 − 4i) AND 0x00780000) OR 0x3F800000, see <see cref="INibbles256"/>). The activations are
/// permuted once per call (<see cref="LinearW4A16Avx2Activations"/>) into the order the nibbles come out.
/// </summary>
/// <remarks>
/// <para><b>Arithmetic.</b> Per block b, row m, channel c and scale group g (the even nibbles = columns 0..31 of the
/// block, the odd ones = 32..63, at G = 32; the whole block otherwise): P = −1.5·Σx + Σ x·(1.5 + q/16) = Σ x·q/16, an
/// FMA chain per lane that starts from the precomputed −1.5·Σx of the same lanes (so no offset subtraction remains),
/// then acc += S·P with S the group's scale broadcast, and finally y = 16·Reduce(acc_even + acc_odd). The scale is
/// applied once per group and lane to a partial sum, not per weight. Per 8 weights: the dequantization's 3 integer ops
/// (shift, and, or: no vpternlogd on AVX2) once per tile, and 1 FMA per row; plus per block and row 2 fold FMAs at
/// G = 32 (into separate even and odd accumulators, so the loop-carried chain is one FMA per block) or 1 otherwise.
/// G = 64, 128 and per channel (<see cref="GroupIndex.BlockShift"/> 0, 1, 30) fold once per block with the block's
/// group scale.</para>
/// <para><b>Order.</b> Every row's operations (which FMAs, in which order, into which lane) are fixed by its own
/// activations and the weights: they depend on neither M, the row tile, the K chunking (accumulators are parked in
/// scratch between chunks, an exact store and load) nor the thread split (by channel), so a row gives the same bits
/// in any batch. <see cref="Reference"/> is the same arithmetic in scalar code (bit-identical by construction).</para>
/// <para><b>Tiles.</b> One channel × 1..4 rows (<see cref="RowTile"/>): 3 live vectors per row (two accumulators and
/// the partial sum) plus the packed dword vector and the weight vector fit in the 16 ymm registers. A block is
/// dequantized once per tile. Channels run in blocks of <see cref="ChannelBlock"/> and K in chunks whose activations
/// (all rows) stay in L1 (<see cref="ChunkBlocks"/>), so the activations come from L1 for every channel of the block
/// rather than from L2 for every channel.</para>
/// <para><b>Padding.</b> A row is a whole number of blocks (K padded to 64 with u = 8 nibbles, multiplied by zero
/// activations); scale indices past the last group are clamped (their lanes see zero activations).</para>
/// </remarks>
internal static unsafe partial class LinearW4A16Avx2
{
    /// <summary>Channels per block of the driver (and the alignment of a thread's channel range).</summary>
    public const int ChannelBlock = 4;
    /// <summary>Floats of permuted activations per block and row: 8 nibble vectors, then −1.5·Σx of the even and odd halves (or of all, at 64, and zeros).</summary>
    public const int BlockFloats = 80;
    /// <summary>Rows per tile: 3 vectors per row + 2 within 16 ymm registers.</summary>
    public const int RowTile = 4;

    /// <summary>
    /// Software prefetch distance in channels (rows of W): each block's 32 bytes are prefetched 8 channels (two channel
    /// blocks) before use, as in <see cref="LinearW4A16Nibble.PrefetchRows"/>; G = 32 also prefetches its scales.
    /// </summary>
    public const int PrefetchRows = 8;

    /// <summary>Blocks per K chunk for <paramref name="rows"/> rows: all rows' activations of a chunk take ≤ 20 KB (L1 is 32 KB).</summary>
    public static int ChunkBlocks(int rows) => Math.Max(8, 64 / rows);

    /// <summary>Vector256 accumulators <see cref="Run"/> needs for <paramref name="rows"/> rows.</summary>
    public static int AccumulatorCount(int rows) => 2 * ChannelBlock * rows;

    /// <summary>
    /// Y[m, j] for m &lt; rows and channels j in [start, end) of an INT4 matrix; x is the permuted activations of
    /// <see cref="LinearW4A16Avx2Activations.Permute"/> (split iff G = 32) with row stride xs, y has row stride n;
    /// <paramref name="acc"/> holds <see cref="AccumulatorCount"/> vectors of 32-byte aligned scratch.
    /// </summary>
    public static void Run(byte* data, float* scales, int rowBytes, int groupCount, GroupIndex groups,
                           int n, int start, int end, int rows, float* x, int xs, float* y, Vector256<float>* acc)
    {
        if (groups.BlockShift < 0) Run<SplitGroups, ShiftNibbles>(data, scales, rowBytes, groupCount, groups, n, start, end, rows, x, xs, y, acc);
        else Run<BlockGroups, ShiftNibbles>(data, scales, rowBytes, groupCount, groups, n, start, end, rows, x, xs, y, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Run<TG, TD>(byte* data, float* scales, int rowBytes, int groupCount, GroupIndex groups,
                                     int n, int start, int end, int rows, float* x, int xs, float* y, Vector256<float>* acc)
        where TG : struct, IGroupSplit where TD : struct, INibbles256
    {
        int shift = groups.BlockShift, last = groups.Last, blocks = xs / BlockFloats, chunk = ChunkBlocks(rows);
        long ahead = (long)PrefetchRows * rowBytes, aheadScales = (long)PrefetchRows * groupCount;
        for (int j0 = start; j0 < end; j0 += ChannelBlock)
        {
            int jn = Math.Min(ChannelBlock, end - j0);
            new Span<Vector256<float>>(acc, 2 * jn * rows).Clear();
            for (int b0 = 0; b0 < blocks; b0 += chunk)
            {
                int b1 = Math.Min(blocks, b0 + chunk);
                for (int c = 0; c < jn; c++)
                {
                    byte* w = data + (long)(j0 + c) * rowBytes;
                    float* s = scales + (long)(j0 + c) * groupCount;
                    Vector256<float>* a = acc + 2 * c * rows;
                    for (int m0 = 0; m0 < rows; m0 += RowTile)
                    {
                        float* xm = x + (long)m0 * xs;
                        switch (Math.Min(RowTile, rows - m0))
                        {
                            case 1: Tile<OneRow, TG, TD>(w, s, shift, last, ahead, aheadScales, b0, b1, xm, xs, a + 2 * m0); break;
                            case 2: Tile<TwoRows, TG, TD>(w, s, shift, last, ahead, aheadScales, b0, b1, xm, xs, a + 2 * m0); break;
                            case 3: Tile<ThreeRows, TG, TD>(w, s, shift, last, ahead, aheadScales, b0, b1, xm, xs, a + 2 * m0); break;
                            default: Tile<FourRows, TG, TD>(w, s, shift, last, ahead, aheadScales, b0, b1, xm, xs, a + 2 * m0); break;
                        }
                    }
                }
            }
            for (int c = 0; c < jn; c++)
                for (int m = 0; m < rows; m++)
                    y[(long)m * n + j0 + c] = 16f * Reduce(acc[2 * (c * rows + m)] + acc[2 * (c * rows + m) + 1]);
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
    /// permuted activations (<see cref="LinearW4A16Avx2Activations.Stride"/> floats).
    /// </summary>
    public static float Reference(Int4Matrix w, int j, ReadOnlySpan<float> xp)
    {
        var groups = new GroupIndex(w);
        bool split = groups.BlockShift < 0;
        int blocks = w.PaddedColumns / 64, last = groups.Last;
        Span<float> e = stackalloc float[8], o = stackalloc float[8], q = stackalloc float[8];
        e.Clear(); o.Clear();
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
                        q[l] = MathF.FusedMultiplyAdd(xb[8 * i + l], 1f + u / 16f, q[l]);
                    }
                if (split)
                {
                    float sc = s[Math.Min(2 * b + half, last)];
                    var a = half == 0 ? e : o;
                    for (int l = 0; l < 8; l++) a[l] = MathF.FusedMultiplyAdd(sc, q[l], a[l]);
                }
            }
            if (!split)
            {
                float sc = s[Math.Min(b >> groups.BlockShift, last)];
                for (int l = 0; l < 8; l++) e[l] = MathF.FusedMultiplyAdd(sc, q[l], e[l]);
            }
        }
        Span<float> t = stackalloc float[4];
        for (int l = 0; l < 4; l++) t[l] = (e[l] + o[l]) + (e[l + 4] + o[l + 4]);
        return 16f * ((t[0] + t[1]) + (t[2] + t[3]));
    }
}

/// <summary>
/// The in-place dequantization of one block's dword vector d: Nibble{i} gives, in lane l, the float 1 + u/16 of nibble i
/// of dword l, i.e. bits ((d ≪ 19 − 4i) AND 0x00780000) OR 0x3F800000 (the nibble lands on mantissa bits 19..22 under
/// the exponent of 1.0). <see cref="Prepare"/> may derive two helper vectors once per block (for even and odd nibbles).
/// </summary>
internal interface INibbles256
{
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
/// Shuffle form: once per block even = (d ≪ 3) AND 0x78787878 and odd = (d ≫ 1) AND 0x78787878 put every byte's low
/// (high) nibble on bits 3..6; then nibble 2j (2j + 1) is vpshufb moving byte j of each dword to byte 2 (bits 19..22,
/// other bytes zeroed), OR 0x3F800000: 2 ops per 8 weights + 4 per block. The same floats as <see cref="ShiftNibbles"/>.
/// </summary>
internal struct ShuffleNibbles : INibbles256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prepare(Vector256<uint> d, out Vector256<uint> even, out Vector256<uint> odd)
    {
        var m = Vector256.Create(0x78787878u);
        even = Avx2.ShiftLeftLogical(d, 3) & m;
        odd = Avx2.ShiftRightLogical(d, 1) & m;
    }

    /// <summary>vpshufb control moving byte j of every dword to byte 2 (index 4·(l mod 4) + j within the 128-bit lane) and zeroing the others.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Control(int j) => j switch
    {
        0 => Vector256.Create(0x80008080u, 0x80048080u, 0x80088080u, 0x800C8080u, 0x80008080u, 0x80048080u, 0x80088080u, 0x800C8080u),
        1 => Vector256.Create(0x80018080u, 0x80058080u, 0x80098080u, 0x800D8080u, 0x80018080u, 0x80058080u, 0x80098080u, 0x800D8080u),
        2 => Vector256.Create(0x80028080u, 0x80068080u, 0x800A8080u, 0x800E8080u, 0x80028080u, 0x80068080u, 0x800A8080u, 0x800E8080u),
        _ => Vector256.Create(0x80038080u, 0x80078080u, 0x800B8080u, 0x800F8080u, 0x80038080u, 0x80078080u, 0x800B8080u, 0x800F8080u),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> F(Vector256<uint> v, int j) =>
        (Avx2.Shuffle(v.AsByte(), Control(j).AsByte()).AsUInt32() | Vector256.Create(0x3F800000u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble0(Vector256<uint> d, Vector256<uint> e) => F(e, 0);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble1(Vector256<uint> d, Vector256<uint> o) => F(o, 0);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble2(Vector256<uint> d, Vector256<uint> e) => F(e, 1);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble3(Vector256<uint> d, Vector256<uint> o) => F(o, 1);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble4(Vector256<uint> d, Vector256<uint> e) => F(e, 2);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble5(Vector256<uint> d, Vector256<uint> o) => F(o, 2);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble6(Vector256<uint> d, Vector256<uint> e) => F(e, 3);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble7(Vector256<uint> d, Vector256<uint> o) => F(o, 3);
}
