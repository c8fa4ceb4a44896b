using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

internal static unsafe partial class LinearW4A16Avx2
{
    /// <summary>
    /// One channel × TR rows (1..4) over blocks [b0, b1): the block's 8 nibble vectors are dequantized once (<typeparamref name="TD"/>)
    /// and each feeds one FMA per row. a[2r] and a[2r + 1] are row r's accumulators (even and odd halves at G = 32; a[2r + 1]
    /// stays unused, zero, otherwise). Unrolled by hand, one line per row: every row runs the same operations in the same order
    /// whatever TR is, which is what makes a row's bits independent of the batch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TR, TG, TD>(byte* w, float* s, int shift, int last, long ahead, long aheadScales, int b0, int b1,
                                         float* x, int xs, Vector256<float>* a) where TR : struct, IRowTile where TG : struct, IGroupSplit where TD : struct, INibbles256
    {
        Vector256<float> e0 = default, o0 = default; { e0 = a[0]; o0 = a[1]; }
        Vector256<float> e1 = default, o1 = default; if (TR.Count > 1) { e1 = a[2]; o1 = a[3]; }
        Vector256<float> e2 = default, o2 = default; if (TR.Count > 2) { e2 = a[4]; o2 = a[5]; }
        Vector256<float> e3 = default, o3 = default; if (TR.Count > 3) { e3 = a[6]; o3 = a[7]; }
        for (int b = b0; b < b1; b++)
        {
            float* xb = x + BlockFloats * b;
            var d = Vector256.Load((uint*)(w + 32 * b));
            Sse.Prefetch0(w + 32 * b + ahead);
            if (TG.Split && (b & 3) == 0) Sse.Prefetch0(s + 2 * b + aheadScales);
            int ge, go;
            if (TG.Split) { ge = Math.Min(2 * b, last); go = Math.Min(2 * b + 1, last); }
            else ge = go = Math.Min(b >> shift, last);
            TD.Prepare(d, out var ev, out var od);
            Vector256<float> q0 = default; q0 = Vector256.Load(xb + 0 * xs + 64);
            Vector256<float> q1 = default; if (TR.Count > 1) q1 = Vector256.Load(xb + 1 * xs + 64);
            Vector256<float> q2 = default; if (TR.Count > 2) q2 = Vector256.Load(xb + 2 * xs + 64);
            Vector256<float> q3 = default; if (TR.Count > 3) q3 = Vector256.Load(xb + 3 * xs + 64);
            { var f = TD.Nibble0(d, ev);
              q0 = Fma.MultiplyAdd(Vector256.Load(xb + 0 * xs + 0), f, q0);
              if (TR.Count > 1) q1 = Fma.MultiplyAdd(Vector256.Load(xb + 1 * xs + 0), f, q1);
              if (TR.Count > 2) q2 = Fma.MultiplyAdd(Vector256.Load(xb + 2 * xs + 0), f, q2);
              if (TR.Count > 3) q3 = Fma.MultiplyAdd(Vector256.Load(xb + 3 * xs + 0), f, q3); }
            { var f = TD.Nibble2(d, ev);
              q0 = Fma.MultiplyAdd(Vector256.Load(xb + 0 * xs + 16), f, q0);
              if (TR.Count > 1) q1 = Fma.MultiplyAdd(Vector256.Load(xb + 1 * xs + 16), f, q1);
              if (TR.Count > 2) q2 = Fma.MultiplyAdd(Vector256.Load(xb + 2 * xs + 16), f, q2);
              if (TR.Count > 3) q3 = Fma.MultiplyAdd(Vector256.Load(xb + 3 * xs + 16), f, q3); }
            { var f = TD.Nibble4(d, ev);
              q0 = Fma.MultiplyAdd(Vector256.Load(xb + 0 * xs + 32), f, q0);
              if (TR.Count > 1) q1 = Fma.MultiplyAdd(Vector256.Load(xb + 1 * xs + 32), f, q1);
              if (TR.Count > 2) q2 = Fma.MultiplyAdd(Vector256.Load(xb + 2 * xs + 32), f, q2);
              if (TR.Count > 3) q3 = Fma.MultiplyAdd(Vector256.Load(xb + 3 * xs + 32), f, q3); }
            { var f = TD.Nibble6(d, ev);
              q0 = Fma.MultiplyAdd(Vector256.Load(xb + 0 * xs + 48), f, q0);
              if (TR.Count > 1) q1 = Fma.MultiplyAdd(Vector256.Load(xb + 1 * xs + 48), f, q1);
              if (TR.Count > 2) q2 = Fma.MultiplyAdd(Vector256.Load(xb + 2 * xs + 48), f, q2);
              if (TR.Count > 3) q3 = Fma.MultiplyAdd(Vector256.Load(xb + 3 * xs + 48), f, q3); }
            if (TG.Split)
            {
                var se = Vector256.Create(s[ge]);
                e0 = Fma.MultiplyAdd(se, q0, e0);
                if (TR.Count > 1) e1 = Fma.MultiplyAdd(se, q1, e1);
                if (TR.Count > 2) e2 = Fma.MultiplyAdd(se, q2, e2);
                if (TR.Count > 3) e3 = Fma.MultiplyAdd(se, q3, e3);
                q0 = Vector256.Load(xb + 0 * xs + 72);
                if (TR.Count > 1) q1 = Vector256.Load(xb + 1 * xs + 72);
                if (TR.Count > 2) q2 = Vector256.Load(xb + 2 * xs + 72);
                if (TR.Count > 3) q3 = Vector256.Load(xb + 3 * xs + 72);
            }
            { var f = TD.Nibble1(d, od);
              q0 = Fma.MultiplyAdd(Vector256.Load(xb + 0 * xs + 8), f, q0);
              if (TR.Count > 1) q1 = Fma.MultiplyAdd(Vector256.Load(xb + 1 * xs + 8), f, q1);
              if (TR.Count > 2) q2 = Fma.MultiplyAdd(Vector256.Load(xb + 2 * xs + 8), f, q2);
              if (TR.Count > 3) q3 = Fma.MultiplyAdd(Vector256.Load(xb + 3 * xs + 8), f, q3); }
            { var f = TD.Nibble3(d, od);
              q0 = Fma.MultiplyAdd(Vector256.Load(xb + 0 * xs + 24), f, q0);
              if (TR.Count > 1) q1 = Fma.MultiplyAdd(Vector256.Load(xb + 1 * xs + 24), f, q1);
              if (TR.Count > 2) q2 = Fma.MultiplyAdd(Vector256.Load(xb + 2 * xs + 24), f, q2);
              if (TR.Count > 3) q3 = Fma.MultiplyAdd(Vector256.Load(xb + 3 * xs + 24), f, q3); }
            { var f = TD.Nibble5(d, od);
              q0 = Fma.MultiplyAdd(Vector256.Load(xb + 0 * xs + 40), f, q0);
              if (TR.Count > 1) q1 = Fma.MultiplyAdd(Vector256.Load(xb + 1 * xs + 40), f, q1);
              if (TR.Count > 2) q2 = Fma.MultiplyAdd(Vector256.Load(xb + 2 * xs + 40), f, q2);
              if (TR.Count > 3) q3 = Fma.MultiplyAdd(Vector256.Load(xb + 3 * xs + 40), f, q3); }
            { var f = TD.Nibble7(d, od);
              q0 = Fma.MultiplyAdd(Vector256.Load(xb + 0 * xs + 56), f, q0);
              if (TR.Count > 1) q1 = Fma.MultiplyAdd(Vector256.Load(xb + 1 * xs + 56), f, q1);
              if (TR.Count > 2) q2 = Fma.MultiplyAdd(Vector256.Load(xb + 2 * xs + 56), f, q2);
              if (TR.Count > 3) q3 = Fma.MultiplyAdd(Vector256.Load(xb + 3 * xs + 56), f, q3); }
            var so = Vector256.Create(s[go]);
            { if (TG.Split) o0 = Fma.MultiplyAdd(so, q0, o0); else e0 = Fma.MultiplyAdd(so, q0, e0); }
            if (TR.Count > 1) { if (TG.Split) o1 = Fma.MultiplyAdd(so, q1, o1); else e1 = Fma.MultiplyAdd(so, q1, e1); }
            if (TR.Count > 2) { if (TG.Split) o2 = Fma.MultiplyAdd(so, q2, o2); else e2 = Fma.MultiplyAdd(so, q2, e2); }
            if (TR.Count > 3) { if (TG.Split) o3 = Fma.MultiplyAdd(so, q3, o3); else e3 = Fma.MultiplyAdd(so, q3, e3); }
        }
        { a[0] = e0; a[1] = o0; }
        if (TR.Count > 1) { a[2] = e1; a[3] = o1; }
        if (TR.Count > 2) { a[4] = e2; a[5] = o2; }
        if (TR.Count > 3) { a[6] = e3; a[7] = o3; }
    }
}
