using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

internal static unsafe partial class LinearW4A16Avx2
{
    /// <summary>
    /// Two channels × TR rows (1..2) over blocks [b0, b1): each block's 8 nibble vectors are dequantized once per channel
    /// (<typeparamref name="TD"/>) and each activation load feeds both channels. a[c · rows + r] is the accumulator of
    /// (row r, channel c). Unrolled, one line per (row, channel) pair of FMAs: every row runs the same operations in the same
    /// order whatever TR is, which is what makes a row's bits independent of the batch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TR, TG, TD>(byte* w0, byte* w1, float* s0, float* s1, int shift, int last, long ahead, long aheadScales,
                                         int b0, int b1, float* x, int xs, Vector256<float>* a, int rows)
        where TR : struct, IRowTile where TG : struct, IGroupSplit where TD : struct, INibbles256
    {
        Vector256<float> a00 = default, a01 = default; { a00 = a[0]; a01 = a[rows + 0]; }
        Vector256<float> a10 = default, a11 = default; if (TR.Count > 1) { a10 = a[1]; a11 = a[rows + 1]; }
        for (int b = b0; b < b1; b++)
        {
            float* xb = x + BlockFloats * b;
            var d0 = Vector256.Load((uint*)(w0 + 32 * b)); Sse.Prefetch0(w0 + 32 * b + ahead);
            var d1 = Vector256.Load((uint*)(w1 + 32 * b)); Sse.Prefetch0(w1 + 32 * b + ahead);
            if (TG.Split && (b & 3) == 0) { Sse.Prefetch0(s0 + 2 * b + aheadScales); Sse.Prefetch0(s1 + 2 * b + aheadScales); }
            int ge, go;
            if (TG.Split) { ge = 2 * b; go = Math.Min(2 * b + 1, last); } // 2b <= last always: only the odd half of a last block can be padding
            else ge = go = b >> shift; // <= last: every block holds a real column
            TD.Prepare(d0, out var e0, out var o0);
            TD.Prepare(d1, out var e1, out var o1);
            Vector256<float> q00 = default, q01 = default; { q00 = Vector256.Load(xb + 0 * xs + 64); q01 = q00; }
            Vector256<float> q10 = default, q11 = default; if (TR.Count > 1) { q10 = Vector256.Load(xb + 1 * xs + 64); q11 = q10; }
            {
                var f0 = TD.Nibble0(d0, e0); var f1 = TD.Nibble0(d1, e1);
                { var xr = Vector256.Load(xb + 0 * xs + 0); q00 = Fma.MultiplyAdd(xr, f0, q00); q01 = Fma.MultiplyAdd(xr, f1, q01); }
                if (TR.Count > 1) { var xr = Vector256.Load(xb + 1 * xs + 0); q10 = Fma.MultiplyAdd(xr, f0, q10); q11 = Fma.MultiplyAdd(xr, f1, q11); }
            }
            {
                var f0 = TD.Nibble2(d0, e0); var f1 = TD.Nibble2(d1, e1);
                { var xr = Vector256.Load(xb + 0 * xs + 16); q00 = Fma.MultiplyAdd(xr, f0, q00); q01 = Fma.MultiplyAdd(xr, f1, q01); }
                if (TR.Count > 1) { var xr = Vector256.Load(xb + 1 * xs + 16); q10 = Fma.MultiplyAdd(xr, f0, q10); q11 = Fma.MultiplyAdd(xr, f1, q11); }
            }
            {
                var f0 = TD.Nibble4(d0, e0); var f1 = TD.Nibble4(d1, e1);
                { var xr = Vector256.Load(xb + 0 * xs + 32); q00 = Fma.MultiplyAdd(xr, f0, q00); q01 = Fma.MultiplyAdd(xr, f1, q01); }
                if (TR.Count > 1) { var xr = Vector256.Load(xb + 1 * xs + 32); q10 = Fma.MultiplyAdd(xr, f0, q10); q11 = Fma.MultiplyAdd(xr, f1, q11); }
            }
            {
                var f0 = TD.Nibble6(d0, e0); var f1 = TD.Nibble6(d1, e1);
                { var xr = Vector256.Load(xb + 0 * xs + 48); q00 = Fma.MultiplyAdd(xr, f0, q00); q01 = Fma.MultiplyAdd(xr, f1, q01); }
                if (TR.Count > 1) { var xr = Vector256.Load(xb + 1 * xs + 48); q10 = Fma.MultiplyAdd(xr, f0, q10); q11 = Fma.MultiplyAdd(xr, f1, q11); }
            }
            if (TG.Split)
            {
                var t0 = Vector256.Create(s0[ge]); var t1 = Vector256.Create(s1[ge]);
                { a00 = Fma.MultiplyAdd(t0, q00, a00); a01 = Fma.MultiplyAdd(t1, q01, a01); q00 = Vector256.Load(xb + 0 * xs + 72); q01 = q00; }
                if (TR.Count > 1) { a10 = Fma.MultiplyAdd(t0, q10, a10); a11 = Fma.MultiplyAdd(t1, q11, a11); q10 = Vector256.Load(xb + 1 * xs + 72); q11 = q10; }
            }
            {
                var f0 = TD.Nibble1(d0, o0); var f1 = TD.Nibble1(d1, o1);
                { var xr = Vector256.Load(xb + 0 * xs + 8); q00 = Fma.MultiplyAdd(xr, f0, q00); q01 = Fma.MultiplyAdd(xr, f1, q01); }
                if (TR.Count > 1) { var xr = Vector256.Load(xb + 1 * xs + 8); q10 = Fma.MultiplyAdd(xr, f0, q10); q11 = Fma.MultiplyAdd(xr, f1, q11); }
            }
            {
                var f0 = TD.Nibble3(d0, o0); var f1 = TD.Nibble3(d1, o1);
                { var xr = Vector256.Load(xb + 0 * xs + 24); q00 = Fma.MultiplyAdd(xr, f0, q00); q01 = Fma.MultiplyAdd(xr, f1, q01); }
                if (TR.Count > 1) { var xr = Vector256.Load(xb + 1 * xs + 24); q10 = Fma.MultiplyAdd(xr, f0, q10); q11 = Fma.MultiplyAdd(xr, f1, q11); }
            }
            {
                var f0 = TD.Nibble5(d0, o0); var f1 = TD.Nibble5(d1, o1);
                { var xr = Vector256.Load(xb + 0 * xs + 40); q00 = Fma.MultiplyAdd(xr, f0, q00); q01 = Fma.MultiplyAdd(xr, f1, q01); }
                if (TR.Count > 1) { var xr = Vector256.Load(xb + 1 * xs + 40); q10 = Fma.MultiplyAdd(xr, f0, q10); q11 = Fma.MultiplyAdd(xr, f1, q11); }
            }
            {
                var f0 = TD.Nibble7(d0, o0); var f1 = TD.Nibble7(d1, o1);
                { var xr = Vector256.Load(xb + 0 * xs + 56); q00 = Fma.MultiplyAdd(xr, f0, q00); q01 = Fma.MultiplyAdd(xr, f1, q01); }
                if (TR.Count > 1) { var xr = Vector256.Load(xb + 1 * xs + 56); q10 = Fma.MultiplyAdd(xr, f0, q10); q11 = Fma.MultiplyAdd(xr, f1, q11); }
            }
            {
                var t0 = Vector256.Create(s0[go]); var t1 = Vector256.Create(s1[go]);
                { a00 = Fma.MultiplyAdd(t0, q00, a00); a01 = Fma.MultiplyAdd(t1, q01, a01); }
                if (TR.Count > 1) { a10 = Fma.MultiplyAdd(t0, q10, a10); a11 = Fma.MultiplyAdd(t1, q11, a11); }
            }
        }
        { a[0] = a00; a[rows + 0] = a01; }
        if (TR.Count > 1) { a[1] = a10; a[rows + 1] = a11; }
    }
}
