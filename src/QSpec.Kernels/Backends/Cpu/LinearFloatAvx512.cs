using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>Yields the 64 float weights of block b of one output channel as four 16-lane vectors (columns 64b + 16j + lane).</summary>
internal interface IBlockSource512
{
    void Load(int block, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3);
}

/// <summary>
/// Dequantizes an INT4 row on the fly. Per half block the 16 possible weights (u − 8)·s are a 16-lane table; vpermps
/// with the zero-extended bytes as indices picks the low nibbles (it reads only index bits 0..3), and the bytes shifted
/// right by 4 pick the high nibbles. Each weight equals the float product (u − 8)·s exactly, as in the reference.
/// </summary>
internal readonly unsafe struct PackedSource512 : IBlockSource512
{
    private readonly byte* _row;
    private readonly float* _scales;
    private readonly GroupIndex _groups;

    public PackedSource512(byte* row, float* scales, GroupIndex groups) { _row = row; _scales = scales; _groups = groups; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Load(int block, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3)
    {
        var levels = Vector512.Create(-8f, -7f, -6f, -5f, -4f, -3f, -2f, -1f, 0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f);
        int gLo = _groups.OfHalf(2 * block), gHi = _groups.OfHalf(2 * block + 1);
        var lo = levels * Vector512.Create(_scales[gLo]);
        var hi = gHi == gLo ? lo : levels * Vector512.Create(_scales[gHi]);
        byte* p = _row + 32 * block;
        var d0 = Avx512F.ConvertToVector512Int32(Vector128.Load(p));
        var d1 = Avx512F.ConvertToVector512Int32(Vector128.Load(p + 16));
        w0 = Avx512F.PermuteVar16x32(lo, d0);
        w1 = Avx512F.PermuteVar16x32(lo, d1);
        w2 = Avx512F.PermuteVar16x32(hi, Avx512F.ShiftRightLogical(d0, 4));
        w3 = Avx512F.PermuteVar16x32(hi, Avx512F.ShiftRightLogical(d1, 4));
    }
}

/// <summary>Reads a dense float row of K columns; the partial last block comes from a zero-padded 64-float copy.</summary>
internal readonly unsafe struct DenseSource512(float* row, int fullBlocks, float* tail) : IBlockSource512
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Load(int block, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3)
    {
        float* p = block < fullBlocks ? row + 64 * block : tail;
        w0 = Vector512.Load(p); w1 = Vector512.Load(p + 16); w2 = Vector512.Load(p + 32); w3 = Vector512.Load(p + 48);
    }
}

/// <summary>Makes the weight source of one output channel (a factory the blocked driver calls per tile).</summary>
internal interface ISourceProvider512<TS> where TS : struct, IBlockSource512
{
    TS For(int channel);
}

/// <summary>Sources over the rows of an INT4 matrix.</summary>
internal readonly unsafe struct PackedProvider512(byte* data, float* scales, int rowBytes, int groupCount, GroupIndex groups)
    : ISourceProvider512<PackedSource512>
{
    public PackedSource512 For(int channel) => new(data + (long)channel * rowBytes, scales + (long)channel * groupCount, groups);
}

/// <summary>
/// Sources over the rows of a dense [N, K] matrix. <paramref name="tails"/> holds 4 × 64 floats: channel j's partial last
/// block is copied to slot j mod 4, so the four sources of one channel block never share a slot.
/// </summary>
internal readonly unsafe struct DenseProvider512(float* data, int k, float* tails) : ISourceProvider512<DenseSource512>
{
    public DenseSource512 For(int channel)
    {
        float* row = data + (long)channel * k;
        float* tail = tails + 64 * (channel & 3);
        int full = k / 64;
        var t = new Span<float>(tail, 64);
        t.Clear();
        new ReadOnlySpan<float>(row + full * 64, k - full * 64).CopyTo(t);
        return new(row, full, tail);
    }
}

/// <summary>
/// AVX-512F float linear kernel. Per row, four 16-lane accumulators: accumulator j gets x[64b + 16j + l]·w in ascending
/// b; the result is ((a0 + a1) + (a2 + a3)) reduced by halves. The order depends on neither M nor the tiling, so a row's
/// output is the same bits in any batch.
/// </summary>
/// <remarks>
/// Loops are blocked so the activation tile stays in cache: per group of <see cref="ChannelBlock"/> channels, per chunk of
/// <see cref="ChunkBlocks"/> blocks (2048 columns), per tile of ≤ 4 rows, per channel. Accumulators are parked in memory
/// between chunks (a store and load are exact), so blocking leaves every row's summation order unchanged. Each tile
/// dequantizes its weights again in registers, which measured no slower than streaming a dequantized row through L1.
/// </remarks>
internal static unsafe class LinearFloatAvx512
{
    /// <summary>Channels per block of the driver.</summary>
    public const int ChannelBlock = 4;
    /// <summary>64-column blocks per K chunk.</summary>
    public const int ChunkBlocks = 32;

    /// <summary>Vector512 accumulators <see cref="Run{TP, TS}"/> needs for <paramref name="rows"/> rows.</summary>
    public static int AccumulatorCount(int rows) => ChannelBlock * rows * 4;

    /// <summary>
    /// Y[m, j] for m &lt; rows and channels j in [start, end); x has row stride kp (zero padded), y row stride n;
    /// <paramref name="acc"/> holds <see cref="AccumulatorCount"/> vectors of scratch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TP, TS>(ref TP provider, int start, int end, int rows, int blocks, float* x, int kp, float* y, int n,
                                   Vector512<float>* acc)
        where TP : struct, ISourceProvider512<TS> where TS : struct, IBlockSource512
    {
        for (int j0 = start; j0 < end; j0 += ChannelBlock)
        {
            int jn = Math.Min(ChannelBlock, end - j0);
            new Span<Vector512<float>>(acc, jn * rows * 4).Clear();
            for (int b0 = 0; b0 < blocks; b0 += ChunkBlocks)
            {
                int b1 = Math.Min(blocks, b0 + ChunkBlocks);
                if (rows == 1 && jn == ChannelBlock)
                {
                    // One row: four channels share each activation load (loads, not FMAs, bound the one-row tile).
                    var s0 = provider.For(j0); var s1 = provider.For(j0 + 1);
                    var s2 = provider.For(j0 + 2); var s3 = provider.For(j0 + 3);
                    FourChannels(ref s0, ref s1, ref s2, ref s3, b0, b1, x, acc);
                    continue;
                }
                for (int m = 0; m < rows; m += 4)
                {
                    float* xm = x + (long)m * kp;
                    for (int c = 0; c < jn; c++)
                    {
                        var src = provider.For(j0 + c);
                        Vector512<float>* a = acc + (c * rows + m) * 4;
                        switch (rows - m)
                        {
                            case 1: Tile<OneRow, TS>(ref src, b0, b1, xm, kp, a); break;
                            case 2: Tile<TwoRows, TS>(ref src, b0, b1, xm, kp, a); break;
                            case 3: Tile<ThreeRows, TS>(ref src, b0, b1, xm, kp, a); break;
                            default: Tile<FourRows, TS>(ref src, b0, b1, xm, kp, a); break;
                        }
                    }
                }
            }
            for (int c = 0; c < jn; c++)
                for (int m = 0; m < rows; m++)
                {
                    Vector512<float>* a = acc + (c * rows + m) * 4;
                    y[(long)m * n + j0 + c] = Reduce(a[0], a[1], a[2], a[3]);
                }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TR, TS>(ref TS src, int b0, int b1, float* x, int kp, Vector512<float>* acc)
        where TR : struct, IRowTile where TS : struct, IBlockSource512
    {
        Vector512<float> a00 = acc[0], a01 = acc[1], a02 = acc[2], a03 = acc[3];
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        if (TR.Count > 1) { a10 = acc[4]; a11 = acc[5]; a12 = acc[6]; a13 = acc[7]; }
        if (TR.Count > 2) { a20 = acc[8]; a21 = acc[9]; a22 = acc[10]; a23 = acc[11]; }
        if (TR.Count > 3) { a30 = acc[12]; a31 = acc[13]; a32 = acc[14]; a33 = acc[15]; }
        for (int b = b0; b < b1; b++)
        {
            src.Load(b, out var w0, out var w1, out var w2, out var w3);
            float* p = x + 64 * b;
            a00 = Avx512F.FusedMultiplyAdd(Vector512.Load(p), w0, a00);
            a01 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 16), w1, a01);
            a02 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 32), w2, a02);
            a03 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 48), w3, a03);
            if (TR.Count > 1)
            {
                p += kp;
                a10 = Avx512F.FusedMultiplyAdd(Vector512.Load(p), w0, a10);
                a11 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 16), w1, a11);
                a12 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 32), w2, a12);
                a13 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 48), w3, a13);
            }
            if (TR.Count > 2)
            {
                p += kp;
                a20 = Avx512F.FusedMultiplyAdd(Vector512.Load(p), w0, a20);
                a21 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 16), w1, a21);
                a22 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 32), w2, a22);
                a23 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 48), w3, a23);
            }
            if (TR.Count > 3)
            {
                p += kp;
                a30 = Avx512F.FusedMultiplyAdd(Vector512.Load(p), w0, a30);
                a31 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 16), w1, a31);
                a32 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 32), w2, a32);
                a33 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 48), w3, a33);
            }
        }
        acc[0] = a00; acc[1] = a01; acc[2] = a02; acc[3] = a03;
        if (TR.Count > 1) { acc[4] = a10; acc[5] = a11; acc[6] = a12; acc[7] = a13; }
        if (TR.Count > 2) { acc[8] = a20; acc[9] = a21; acc[10] = a22; acc[11] = a23; }
        if (TR.Count > 3) { acc[12] = a30; acc[13] = a31; acc[14] = a32; acc[15] = a33; }
    }

    /// <summary>One row, four channels; accumulators of channel c at acc[4c .. 4c + 3]. Same per-channel order as <see cref="Tile"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FourChannels<TS>(ref TS s0, ref TS s1, ref TS s2, ref TS s3, int b0, int b1, float* x, Vector512<float>* acc)
        where TS : struct, IBlockSource512
    {
        Vector512<float> a00 = acc[0], a01 = acc[1], a02 = acc[2], a03 = acc[3];
        Vector512<float> a10 = acc[4], a11 = acc[5], a12 = acc[6], a13 = acc[7];
        Vector512<float> a20 = acc[8], a21 = acc[9], a22 = acc[10], a23 = acc[11];
        Vector512<float> a30 = acc[12], a31 = acc[13], a32 = acc[14], a33 = acc[15];
        for (int b = b0; b < b1; b++)
        {
            float* p = x + 64 * b;
            var x0 = Vector512.Load(p); var x1 = Vector512.Load(p + 16);
            var x2 = Vector512.Load(p + 32); var x3 = Vector512.Load(p + 48);
            s0.Load(b, out var w0, out var w1, out var w2, out var w3);
            a00 = Avx512F.FusedMultiplyAdd(x0, w0, a00); a01 = Avx512F.FusedMultiplyAdd(x1, w1, a01);
            a02 = Avx512F.FusedMultiplyAdd(x2, w2, a02); a03 = Avx512F.FusedMultiplyAdd(x3, w3, a03);
            s1.Load(b, out w0, out w1, out w2, out w3);
            a10 = Avx512F.FusedMultiplyAdd(x0, w0, a10); a11 = Avx512F.FusedMultiplyAdd(x1, w1, a11);
            a12 = Avx512F.FusedMultiplyAdd(x2, w2, a12); a13 = Avx512F.FusedMultiplyAdd(x3, w3, a13);
            s2.Load(b, out w0, out w1, out w2, out w3);
            a20 = Avx512F.FusedMultiplyAdd(x0, w0, a20); a21 = Avx512F.FusedMultiplyAdd(x1, w1, a21);
            a22 = Avx512F.FusedMultiplyAdd(x2, w2, a22); a23 = Avx512F.FusedMultiplyAdd(x3, w3, a23);
            s3.Load(b, out w0, out w1, out w2, out w3);
            a30 = Avx512F.FusedMultiplyAdd(x0, w0, a30); a31 = Avx512F.FusedMultiplyAdd(x1, w1, a31);
            a32 = Avx512F.FusedMultiplyAdd(x2, w2, a32); a33 = Avx512F.FusedMultiplyAdd(x3, w3, a33);
        }
        acc[0] = a00; acc[1] = a01; acc[2] = a02; acc[3] = a03;
        acc[4] = a10; acc[5] = a11; acc[6] = a12; acc[7] = a13;
        acc[8] = a20; acc[9] = a21; acc[10] = a22; acc[11] = a23;
        acc[12] = a30; acc[13] = a31; acc[14] = a32; acc[15] = a33;
    }

    /// <summary>The fixed horizontal sum: pairwise over accumulators, then halves down to four lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3)
    {
        var s = (a0 + a1) + (a2 + a3);
        var h = s.GetLower() + s.GetUpper();
        var q = h.GetLower() + h.GetUpper();
        return (q.GetElement(0) + q.GetElement(1)) + (q.GetElement(2) + q.GetElement(3));
    }
}
