using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

internal static partial class AttentionKernel
{
    /// <summary>
    /// One (row, head) for head sizes that are multiples of 8 above 32 (TinyLlama and Llama: 64, 128): the general path's
    /// operations in its order, without its per-position calls. Scores eight positions at a time (each position's two
    /// accumulators exactly as <see cref="SimdMath.Dot"/>, then <see cref="SimdMath.Horizontal"/>'s tree as vertical adds
    /// and two hadds, as <see cref="SmallHead"/> does); the weighted sum of values with 32 output columns in registers per
    /// pass over the positions (one FMA per position and column in ascending t, as <see cref="SimdMath.Axpy"/> into a
    /// cleared output), so the same bits as the general path.
    /// </summary>
    /// <remarks>
    /// The general path called Dot and Axpy once per position and loaded and stored the whole output row per position;
    /// at 1000-2000 positions attention then took about as long as all the linear layers of a TinyLlama-shape step.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WideHead(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int stride,
                                 Span<float> att, float scale, Span<float> output)
    {
        int hs = q.Length, count = att.Length;
        ref float kp = ref MemoryMarshal.GetReference(keys);
        ref float vp = ref MemoryMarshal.GetReference(values);
        ref float qp = ref MemoryMarshal.GetReference(q);
        int t = 0;
        var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        var vscale = Vector256.Create(scale);
        for (; t + 8 <= count; t += 8)
        {
            var z01 = Halves(Products(ref kp, t, stride, hs, ref qp), Products(ref kp, t + 1, stride, hs, ref qp));
            var z23 = Halves(Products(ref kp, t + 2, stride, hs, ref qp), Products(ref kp, t + 3, stride, hs, ref qp));
            var z45 = Halves(Products(ref kp, t + 4, stride, hs, ref qp), Products(ref kp, t + 5, stride, hs, ref qp));
            var z67 = Halves(Products(ref kp, t + 6, stride, hs, ref qp), Products(ref kp, t + 7, stride, hs, ref qp));
            var sums = Avx.HorizontalAdd(Avx.HorizontalAdd(z01, z23), Avx.HorizontalAdd(z45, z67));
            Avx2.PermuteVar8x32(sums * vscale, order).StoreUnsafe(ref MemoryMarshal.GetReference(att), (nuint)t);
        }
        for (; t < count; t++) att[t] = SimdMath.Horizontal(Products(ref kp, t, stride, hs, ref qp)) * scale;
        TensorPrimitives.Subtract(att, SimdMath.Max(att), att);
        SimdMath.Map<ExpMap>(att, att);
        TensorPrimitives.Multiply(att, 1f / SimdMath.Sum(att), att); // p_t = att_t · inv, as Axpy's multiplier
        ref float ap = ref MemoryMarshal.GetReference(att);
        ref float op = ref MemoryMarshal.GetReference(output);
        for (int c = 0; c < hs; c += 32)
        {
            int width = Math.Min(32, hs - c); // 8, 16, 24 or 32 columns this pass
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (t = 0; t < count; t++)
            {
                var p = Vector256.Create(Unsafe.Add(ref ap, t));
                nuint o = (nuint)(t * stride + c);
                a0 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref vp, o), a0);
                if (width >= 16) a1 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref vp, o + 8), a1);
                if (width >= 24) a2 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref vp, o + 16), a2);
                if (width == 32) a3 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref vp, o + 24), a3);
            }
            a0.StoreUnsafe(ref op, (nuint)c);
            if (width >= 16) a1.StoreUnsafe(ref op, (nuint)c + 8);
            if (width >= 24) a2.StoreUnsafe(ref op, (nuint)c + 16);
            if (width == 32) a3.StoreUnsafe(ref op, (nuint)c + 24);
        }
    }

    /// <summary>Position <paramref name="t"/>'s score before the horizontal sum: s0 + s1 of <see cref="SimdMath.Dot"/>'s two accumulators (16-column steps, then one 8-column step).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Products(ref float keys, int t, int stride, int hs, ref float q)
    {
        nuint o = (nuint)(t * stride);
        Vector256<float> s0 = default, s1 = default;
        int i = 0;
        for (; i + 16 <= hs; i += 16)
        {
            s0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref q, (nuint)i), Vector256.LoadUnsafe(ref keys, o + (nuint)i), s0);
            s1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref q, (nuint)i + 8), Vector256.LoadUnsafe(ref keys, o + (nuint)i + 8), s1);
        }
        if (i + 8 <= hs) s0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref q, (nuint)i), Vector256.LoadUnsafe(ref keys, o + (nuint)i), s0);
        return s0 + s1;
    }
}
