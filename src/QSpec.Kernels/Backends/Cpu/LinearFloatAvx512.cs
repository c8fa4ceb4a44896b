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

/// <summary>Reads weights already dequantized into a float row (used when M &gt; 4 so a row is dequantized once).</summary>
internal readonly unsafe struct BufferSource512(float* row) : IBlockSource512
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Load(int block, out Vector512<float> w0, out Vector512<float> w1, out Vector512<float> w2, out Vector512<float> w3)
    {
        float* p = row + 64 * block;
        w0 = Vector512.Load(p); w1 = Vector512.Load(p + 16); w2 = Vector512.Load(p + 32); w3 = Vector512.Load(p + 48);
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

/// <summary>
/// AVX-512F float linear kernel. Per row, four 16-lane accumulators: accumulator j gets x[64b + 16j + l]·w in ascending
/// b; the result is ((a0 + a1) + (a2 + a3)) reduced by halves. The order depends on neither M nor the tiling, so a row's
/// output is the same bits in any batch.
/// </summary>
internal static unsafe class LinearFloatAvx512
{
    /// <summary>Y rows [0, rows) for one output channel; x has row stride kp (zero padded), y has row stride n.</summary>
    public static void Rows<TS>(ref TS src, int rows, int blocks, float* x, int kp, float* y, int n) where TS : struct, IBlockSource512
    {
        for (int m = 0; m < rows; m += 4)
        {
            float* xm = x + (long)m * kp, ym = y + (long)m * n;
            switch (rows - m)
            {
                case 1: Tile<OneRow, TS>(ref src, blocks, xm, kp, ym, n); break;
                case 2: Tile<TwoRows, TS>(ref src, blocks, xm, kp, ym, n); break;
                case 3: Tile<ThreeRows, TS>(ref src, blocks, xm, kp, ym, n); break;
                default: Tile<FourRows, TS>(ref src, blocks, xm, kp, ym, n); break;
            }
        }
    }

    /// <summary>Writes the dequantized row (kp floats) to <paramref name="dst"/>.</summary>
    public static void Dequantize(ref PackedSource512 src, int blocks, float* dst)
    {
        for (int b = 0; b < blocks; b++)
        {
            src.Load(b, out var w0, out var w1, out var w2, out var w3);
            float* p = dst + 64 * b;
            w0.Store(p); w1.Store(p + 16); w2.Store(p + 32); w3.Store(p + 48);
        }
    }

    private static void Tile<TR, TS>(ref TS src, int blocks, float* x, int kp, float* y, int n)
        where TR : struct, IRowTile where TS : struct, IBlockSource512
    {
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        for (int b = 0; b < blocks; b++)
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
        y[0] = Reduce(a00, a01, a02, a03);
        if (TR.Count > 1) y[n] = Reduce(a10, a11, a12, a13);
        if (TR.Count > 2) y[2 * n] = Reduce(a20, a21, a22, a23);
        if (TR.Count > 3) y[3 * n] = Reduce(a30, a31, a32, a33);
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
