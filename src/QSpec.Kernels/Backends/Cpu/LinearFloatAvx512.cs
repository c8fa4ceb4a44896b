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
    private readonly int _ahead, _blockShift, _last;

    /// <param name="ahead">Bytes from a block to the same block of the row read next (prefetched into L2).</param>
    public PackedSource512(byte* row, float* scales, GroupIndex groups, int ahead)
    {
        _row = row; _scales = scales; _ahead = ahead;
        _blockShift = groups.BlockShift;
        _last = groups.Last;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Load(int block, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3)
    {
        var levels = Vector512.Create(-8f, -7f, -6f, -5f, -4f, -3f, -2f, -1f, 0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f);
        Vector512<float> lo, hi;
        if (_blockShift >= 0)
            lo = hi = levels * Vector512.Create(_scales[block >> _blockShift]); // one group per block (G ≥ 64 or per channel)
        else
        {
            lo = levels * Vector512.Create(_scales[2 * block]); // G = 32: the low half starts a group that holds a real column
            hi = levels * Vector512.Create(_scales[Math.Min(2 * block + 1, _last)]);
        }
        byte* p = _row + 32 * block;
        Sse.Prefetch1(p + _ahead);
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
    /// <summary>The source of a channel; it prefetches the next channel block's rows (the driver walks channels in blocks).</summary>
    public PackedSource512 For(int channel)
        => new(data + (long)channel * rowBytes, scales + (long)channel * groupCount, groups, LinearFloatAvx512.ChannelBlock * rowBytes);
}

/// <summary>
/// Sources over the rows of a dense [N, K] matrix. <paramref name="tails"/> holds each row's zero-padded partial last block
/// (64 floats per row, <see cref="CpuMatrix.DenseTails"/>; unused when K is a multiple of 64).
/// </summary>
internal readonly unsafe struct DenseProvider512(float* data, int k, float* tails) : ISourceProvider512<DenseSource512>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public DenseSource512 For(int channel) => new(data + (long)channel * k, k / 64, tails + 64L * channel);
}

/// <summary>
/// AVX-512F float linear kernel. Per row, four 16-lane accumulators: accumulator j gets x[64b + 16j + l]·w in ascending
/// b; the result is ((a0 + a1) + (a2 + a3)) reduced by halves. The order depends on neither M nor the tiling, so a row's
/// output is the same bits in any batch.
/// </summary>
/// <remarks>
/// Loops are blocked so the activation tile stays in cache: per group of <see cref="ChannelBlock"/> channels, per chunk of
/// <see cref="ChunkBlocks"/> blocks (2048 columns), per pair of rows (2 rows × 2 channels) and for a last odd row
/// (1 row × 4 channels). Sharing each activation load between channels matters because loads, not FMAs, limit a
/// one-channel tile. Accumulators are parked in memory between chunks (a store and load are exact), so blocking and
/// tiling leave every (row, channel) summation order unchanged. Each tile dequantizes its weights again in registers,
/// which measured no slower than streaming a dequantized row through L1.
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
        if (rows == 1 && blocks <= ChunkBlocks) { OneRowOneChunk<TP, TS>(ref provider, start, end, blocks, x, y); return; }
        for (int j0 = start; j0 < end; j0 += ChannelBlock)
        {
            int jn = Math.Min(ChannelBlock, end - j0);
            new Span<Vector512<float>>(acc, jn * rows * 4).Clear();
            for (int b0 = 0; b0 < blocks; b0 += ChunkBlocks)
            {
                int b1 = Math.Min(blocks, b0 + ChunkBlocks);
                for (int m = 0; m < rows; )
                {
                    float* xm = x + (long)m * kp;
                    if (rows - m >= 2)
                    {
                        // Row pairs over channel pairs: each activation load feeds two channels.
                        int c = 0;
                        for (; c + 2 <= jn; c += 2)
                        {
                            var s0 = provider.For(j0 + c); var s1 = provider.For(j0 + c + 1);
                            TwoByTwo(ref s0, ref s1, b0, b1, xm, kp, acc + (c * rows + m) * 4, acc + ((c + 1) * rows + m) * 4);
                        }
                        if (c < jn)
                        {
                            var s0 = provider.For(j0 + c);
                            Tile<TwoRows, TS>(ref s0, b0, b1, xm, kp, acc + (c * rows + m) * 4);
                        }
                        m += 2;
                    }
                    else
                    {
                        // The last single row: four channels share each activation load.
                        if (jn == ChannelBlock)
                        {
                            var s0 = provider.For(j0); var s1 = provider.For(j0 + 1);
                            var s2 = provider.For(j0 + 2); var s3 = provider.For(j0 + 3);
                            FourChannels(ref s0, ref s1, ref s2, ref s3, b0, b1, xm, rows, acc + m * 4);
                        }
                        else
                            for (int c = 0; c < jn; c++)
                            {
                                var s0 = provider.For(j0 + c);
                                Tile<OneRow, TS>(ref s0, b0, b1, xm, kp, acc + (c * rows + m) * 4);
                            }
                        m++;
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

    /// <summary>
    /// <see cref="Run{TP, TS}"/> for one row when K fits one chunk (≤ 2048 columns, every small model's decode): the
    /// accumulators stay in registers from zero to the reduction instead of being cleared, parked and reloaded in
    /// memory (exact, so the same bits: each channel's FMAs run in the same ascending-block order). For small matrices
    /// that parking, not the FMAs, was the cost.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void OneRowOneChunk<TP, TS>(ref TP provider, int start, int end, int blocks, float* x, float* y)
        where TP : struct, ISourceProvider512<TS> where TS : struct, IBlockSource512
    {
        int j = start;
        for (; j + 4 <= end; j += 4)
        {
            var s0 = provider.For(j); var s1 = provider.For(j + 1);
            var s2 = provider.For(j + 2); var s3 = provider.For(j + 3);
            Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
            Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
            Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
            Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
            for (int b = 0; b < blocks; b++)
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
            y[j] = Reduce(a00, a01, a02, a03);
            y[j + 1] = Reduce(a10, a11, a12, a13);
            y[j + 2] = Reduce(a20, a21, a22, a23);
            y[j + 3] = Reduce(a30, a31, a32, a33);
        }
        for (; j < end; j++)
        {
            var s0 = provider.For(j);
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int b = 0; b < blocks; b++)
            {
                float* p = x + 64 * b;
                s0.Load(b, out var w0, out var w1, out var w2, out var w3);
                a0 = Avx512F.FusedMultiplyAdd(Vector512.Load(p), w0, a0);
                a1 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 16), w1, a1);
                a2 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 32), w2, a2);
                a3 = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 48), w3, a3);
            }
            y[j] = Reduce(a0, a1, a2, a3);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TR, TS>(ref TS src, int b0, int b1, float* x, int kp, Vector512<float>* acc)
        where TR : struct, IRowTile where TS : struct, IBlockSource512
    {
        Vector512<float> a00 = acc[0], a01 = acc[1], a02 = acc[2], a03 = acc[3];
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        if (TR.Count > 1) { a10 = acc[4]; a11 = acc[5]; a12 = acc[6]; a13 = acc[7]; }
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
        }
        acc[0] = a00; acc[1] = a01; acc[2] = a02; acc[3] = a03;
        if (TR.Count > 1) { acc[4] = a10; acc[5] = a11; acc[6] = a12; acc[7] = a13; }
    }

    /// <summary>Two rows × two channels; acc0 / acc1 hold each channel's two rows (4 vectors per row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TwoByTwo<TS>(ref TS s0, ref TS s1, int b0, int b1, float* x, int kp, Vector512<float>* acc0, Vector512<float>* acc1)
        where TS : struct, IBlockSource512
    {
        Vector512<float> a00 = acc0[0], a01 = acc0[1], a02 = acc0[2], a03 = acc0[3];
        Vector512<float> a10 = acc0[4], a11 = acc0[5], a12 = acc0[6], a13 = acc0[7];
        Vector512<float> c00 = acc1[0], c01 = acc1[1], c02 = acc1[2], c03 = acc1[3];
        Vector512<float> c10 = acc1[4], c11 = acc1[5], c12 = acc1[6], c13 = acc1[7];
        for (int b = b0; b < b1; b++)
        {
            s0.Load(b, out var w0, out var w1, out var w2, out var w3);
            s1.Load(b, out var v0, out var v1, out var v2, out var v3);
            float* p = x + 64 * b;
            var x0 = Vector512.Load(p);
            a00 = Avx512F.FusedMultiplyAdd(x0, w0, a00); c00 = Avx512F.FusedMultiplyAdd(x0, v0, c00);
            x0 = Vector512.Load(p + 16);
            a01 = Avx512F.FusedMultiplyAdd(x0, w1, a01); c01 = Avx512F.FusedMultiplyAdd(x0, v1, c01);
            x0 = Vector512.Load(p + 32);
            a02 = Avx512F.FusedMultiplyAdd(x0, w2, a02); c02 = Avx512F.FusedMultiplyAdd(x0, v2, c02);
            x0 = Vector512.Load(p + 48);
            a03 = Avx512F.FusedMultiplyAdd(x0, w3, a03); c03 = Avx512F.FusedMultiplyAdd(x0, v3, c03);
            p += kp;
            x0 = Vector512.Load(p);
            a10 = Avx512F.FusedMultiplyAdd(x0, w0, a10); c10 = Avx512F.FusedMultiplyAdd(x0, v0, c10);
            x0 = Vector512.Load(p + 16);
            a11 = Avx512F.FusedMultiplyAdd(x0, w1, a11); c11 = Avx512F.FusedMultiplyAdd(x0, v1, c11);
            x0 = Vector512.Load(p + 32);
            a12 = Avx512F.FusedMultiplyAdd(x0, w2, a12); c12 = Avx512F.FusedMultiplyAdd(x0, v2, c12);
            x0 = Vector512.Load(p + 48);
            a13 = Avx512F.FusedMultiplyAdd(x0, w3, a13); c13 = Avx512F.FusedMultiplyAdd(x0, v3, c13);
        }
        acc0[0] = a00; acc0[1] = a01; acc0[2] = a02; acc0[3] = a03;
        acc0[4] = a10; acc0[5] = a11; acc0[6] = a12; acc0[7] = a13;
        acc1[0] = c00; acc1[1] = c01; acc1[2] = c02; acc1[3] = c03;
        acc1[4] = c10; acc1[5] = c11; acc1[6] = c12; acc1[7] = c13;
    }

    /// <summary>
    /// One row, four channels; channel c's accumulators for this row at acc[4·rows·c .. + 3]. The same per-channel order
    /// as <see cref="Tile"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FourChannels<TS>(ref TS s0, ref TS s1, ref TS s2, ref TS s3, int b0, int b1, float* x, int rows, Vector512<float>* acc)
        where TS : struct, IBlockSource512
    {
        Vector512<float>* q0 = acc, q1 = acc + 4 * rows, q2 = acc + 8 * rows, q3 = acc + 12 * rows;
        Vector512<float> a00 = q0[0], a01 = q0[1], a02 = q0[2], a03 = q0[3];
        Vector512<float> a10 = q1[0], a11 = q1[1], a12 = q1[2], a13 = q1[3];
        Vector512<float> a20 = q2[0], a21 = q2[1], a22 = q2[2], a23 = q2[3];
        Vector512<float> a30 = q3[0], a31 = q3[1], a32 = q3[2], a33 = q3[3];
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
        q0[0] = a00; q0[1] = a01; q0[2] = a02; q0[3] = a03;
        q1[0] = a10; q1[1] = a11; q1[2] = a12; q1[3] = a13;
        q2[0] = a20; q2[1] = a21; q2[2] = a22; q2[3] = a23;
        q3[0] = a30; q3[1] = a31; q3[2] = a32; q3[3] = a33;
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
