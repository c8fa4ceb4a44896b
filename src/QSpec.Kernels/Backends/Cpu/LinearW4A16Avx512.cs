using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// The table AVX-512F W4A16 kernel: the backend's kernel at G = 32 and 64 where the denormal form does not run and
/// <see cref="CpuBackendOptions.W4A16TableKernel"/> is on (faster than the fold form from 4 rows per call on an Intel
/// Xeon, slower for one), else the baseline of the benchmarks' A/B runs (`w4a16ab`, `ab`, `tableab`); by default the
/// backend runs <see cref="LinearW4A16Nibble"/>. Multi-row tiles: per 64-column block a channel's weights are dequantized once in
/// registers (vpmovzxbd, then vpermps from the 16-entry table (u − 8)·s: exactly the reference's product) and
/// multiplied into every row of the tile: 4 channels × 1..4 rows or 2 channels × 5..8 rows, 16 accumulators at most.
/// </summary>
/// <remarks>
/// <para><b>Order.</b> One 16-lane accumulator per (row, channel): lane l gets x[64b + 16j + l]·w in ascending block b and
/// piece j (one FMA each), then the fixed horizontal sum of <see cref="Reduce"/>. The order depends on neither M, the
/// tile nor the K chunking, so a row's output is the same bits in any batch.</para>
/// <para><b>Blocking.</b> Per block of 4 channels, K runs in chunks of <see cref="ChunkBlocks"/> blocks (1024 columns, so an
/// 8-row activation chunk stays in L1/L2); between chunks the accumulators are parked in scratch (an exact store and
/// load). Rows run in chunks of 8 and a remainder, each re-reading the block's weights from L1.</para>
/// <para><b>Why a table, not the 2^23 trick.</b> Building (u − 8)·s from the float bits 0x4B000000 | u costs an OR, a
/// subtract and a multiply per 16 weights on top of the zero-extension; the table costs one vpermps, and its product is
/// the same float, so the table stays.</para>
/// </remarks>
internal static unsafe partial class LinearW4A16Avx512
{
    /// <summary>Channels per block of the driver (and the alignment of a thread's channel range).</summary>
    public const int ChannelBlock = 4;
    /// <summary>64-column blocks per K chunk.</summary>
    public const int ChunkBlocks = 16;

    /// <summary>Vector512 accumulators <see cref="Run"/> needs for <paramref name="rows"/> rows.</summary>
    public static int AccumulatorCount(int rows) => ChannelBlock * rows;

    /// <summary>
    /// Y[m, j] for m &lt; rows and channels j in [start, end) of an INT4 matrix; x has row stride kp (zero padded), y row
    /// stride n; <paramref name="acc"/> holds <see cref="AccumulatorCount"/> vectors of scratch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(byte* data, float* scales, int rowBytes, int groupCount, GroupIndex groups, int n, int start, int end,
                           int rows, float* x, int kp, float* y, Vector512<float>* acc)
    {
        int shift = groups.BlockShift, last = groups.Last, blocks = kp / 64;
        long ahead = (long)ChannelBlock * rowBytes;
        for (int j0 = start; j0 < end; j0 += ChannelBlock)
        {
            int jn = Math.Min(ChannelBlock, end - j0);
            // Channels past the range repeat its last one: computed, then dropped.
            int j1 = j0 + Math.Min(1, jn - 1), j2 = j0 + Math.Min(2, jn - 1), j3 = j0 + Math.Min(3, jn - 1);
            byte* w0 = data + (long)j0 * rowBytes, w1 = data + (long)j1 * rowBytes, w2 = data + (long)j2 * rowBytes, w3 = data + (long)j3 * rowBytes;
            float* s0 = scales + (long)j0 * groupCount, s1 = scales + (long)j1 * groupCount, s2 = scales + (long)j2 * groupCount, s3 = scales + (long)j3 * groupCount;
            new Span<Vector512<float>>(acc, ChannelBlock * rows).Clear();
            for (int b0 = 0; b0 < blocks; b0 += ChunkBlocks)
            {
                int b1 = Math.Min(blocks, b0 + ChunkBlocks);
                for (int m0 = 0; m0 < rows;)
                {
                    int r = rows - m0 >= 8 ? 4 : Math.Min(8, rows - m0);
                    float* xm = x + (long)m0 * kp;
                    Vector512<float>* a = acc + m0;
                    switch (r)
                    {
                        case 1: Tile4<OneRow>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, b0, b1, xm, kp, a, rows); break;
                        case 2: Tile4<TwoRows>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, b0, b1, xm, kp, a, rows); break;
                        case 3: Tile4<ThreeRows>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, b0, b1, xm, kp, a, rows); break;
                        case 4: Tile4<FourRows>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, b0, b1, xm, kp, a, rows); break;
                        case 5: Pairs<FiveRows>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, b0, b1, xm, kp, a, rows); break;
                        case 6: Pairs<SixRows>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, b0, b1, xm, kp, a, rows); break;
                        case 7: Pairs<SevenRows>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, b0, b1, xm, kp, a, rows); break;
                        default: Pairs<EightRows>(w0, w1, w2, w3, s0, s1, s2, s3, shift, last, ahead, b0, b1, xm, kp, a, rows); break;
                    }
                    m0 += r;
                }
            }
            for (int c = 0; c < jn; c++)
                for (int m = 0; m < rows; m++)
                    y[(long)m * n + j0 + c] = Reduce(acc[c * rows + m]);
        }
    }

    /// <summary>The 5..8-row tiles: channels (0, 1), then (2, 3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pairs<TR>(byte* w0, byte* w1, byte* w2, byte* w3, float* s0, float* s1, float* s2, float* s3, int shift, int last,
                                  long ahead, int b0, int b1, float* x, int kp, Vector512<float>* acc, int rows) where TR : struct, IRowTile
    {
        Tile2<TR>(w0, w1, s0, s1, shift, last, ahead, b0, b1, x, kp, acc, rows);
        Tile2<TR>(w2, w3, s2, s3, shift, last, ahead, b0, b1, x, kp, acc + 2 * rows, rows);
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
