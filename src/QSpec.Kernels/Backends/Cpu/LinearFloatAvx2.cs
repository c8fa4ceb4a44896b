using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>Yields the 32 float weights of half block h of one output channel (columns 32h + 8j + lane) as four 8-lane vectors.</summary>
internal interface IHalfSource256
{
    void Load(int half, out Vector256<float> w0, out Vector256<float> w1, out Vector256<float> w2, out Vector256<float> w3);
}

/// <summary>Reads a dense float row of K columns; halves from <paramref name="fullHalves"/> on come from a zero-padded 64-float copy.</summary>
internal readonly unsafe struct DenseSource256(float* row, int fullHalves, float* tail) : IHalfSource256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Load(int half, out Vector256<float> w0, out Vector256<float> w1, out Vector256<float> w2, out Vector256<float> w3)
    {
        float* p = half < fullHalves ? row + 32 * half : tail + 32 * (half - fullHalves);
        w0 = Vector256.Load(p); w1 = Vector256.Load(p + 8); w2 = Vector256.Load(p + 16); w3 = Vector256.Load(p + 24);
    }
}

/// <summary>
/// AVX2 + FMA dense float linear kernel (<see cref="LinearFloat.F32"/>; W4A16 has its own, <see cref="LinearW4A16Avx2"/>): per row four 8-lane accumulators, accumulator j taking x[32h + 8j + l]·w in
/// ascending h, reduced in a fixed order; tiles of up to two rows (sixteen ymm registers). Batch invariant.
/// </summary>
internal static unsafe class LinearFloatAvx2
{
    /// <summary>Y rows [0, rows) for one output channel; x has row stride kp (zero padded), y has row stride n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows<TS>(ref TS src, int rows, int halves, float* x, int kp, float* y, int n) where TS : struct, IHalfSource256
    {
        int m = 0;
        for (; m + 2 <= rows; m += 2) Tile<TwoRows, TS>(ref src, halves, x + (long)m * kp, kp, y + (long)m * n, n);
        if (m < rows) Tile<OneRow, TS>(ref src, halves, x + (long)m * kp, kp, y + (long)m * n, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TR, TS>(ref TS src, int halves, float* x, int kp, float* y, int n)
        where TR : struct, IRowTile where TS : struct, IHalfSource256
    {
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        for (int h = 0; h < halves; h++)
        {
            src.Load(h, out var w0, out var w1, out var w2, out var w3);
            float* p = x + 32 * h;
            a00 = Fma.MultiplyAdd(Vector256.Load(p), w0, a00);
            a01 = Fma.MultiplyAdd(Vector256.Load(p + 8), w1, a01);
            a02 = Fma.MultiplyAdd(Vector256.Load(p + 16), w2, a02);
            a03 = Fma.MultiplyAdd(Vector256.Load(p + 24), w3, a03);
            if (TR.Count > 1)
            {
                p += kp;
                a10 = Fma.MultiplyAdd(Vector256.Load(p), w0, a10);
                a11 = Fma.MultiplyAdd(Vector256.Load(p + 8), w1, a11);
                a12 = Fma.MultiplyAdd(Vector256.Load(p + 16), w2, a12);
                a13 = Fma.MultiplyAdd(Vector256.Load(p + 24), w3, a13);
            }
        }
        y[0] = Reduce(a00, a01, a02, a03);
        if (TR.Count > 1) y[n] = Reduce(a10, a11, a12, a13);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3)
    {
        var s = (a0 + a1) + (a2 + a3);
        var q = s.GetLower() + s.GetUpper();
        return (q.GetElement(0) + q.GetElement(1)) + (q.GetElement(2) + q.GetElement(3));
    }
}
