using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

internal static partial class AttentionKernel
{
    /// <summary>Positions per block of <see cref="WideGroup"/>: the group's keys (or values) of a block, 64 × head size floats (16 KB at 64), stay in L1 for all its heads.</summary>
    private const int GroupBlock = 64;

    /// <summary>
    /// One (row, KV head) for head sizes that are multiples of 8 above 32 (TinyLlama and Llama: 64, 128): the
    /// <paramref name="group"/> query heads that share the KV head, each with the general path's operations in its
    /// order, without its per-position calls, and each key and value row read from memory once for the whole group.
    /// Scores eight positions at a time (each position's two accumulators exactly as <see cref="SimdMath.Dot"/>, then
    /// <see cref="SimdMath.Horizontal"/>'s tree in <see cref="StoreEight"/>, as <see cref="SmallHead"/> does); the
    /// weighted sum of values with 32 output columns in registers per pass (one FMA per position and column in ascending
    /// t, as <see cref="SimdMath.Axpy"/> into a cleared output). Both run over blocks of <see cref="GroupBlock"/> positions,
    /// all heads of the group per block; a head's value accumulators are stored to the output between blocks and loaded
    /// back (exact), so every output element sees the same FMA chain, and the same bits, as the general path.
    /// </summary>
    /// <param name="q">The group's queries, head after head (<paramref name="group"/> × <paramref name="hs"/>).</param>
    /// <param name="scores">Scratch, <paramref name="group"/> × count floats: head i's scores and then probabilities at i · count.</param>
    /// <param name="output">The group's outputs, head after head.</param>
    /// <remarks>
    /// Head by head (before), the eight heads of a TinyLlama group each streamed the group's K and V slices (1 MB at 2,000
    /// positions, the L2's size) from L3: ~9 ns per (head, position) in cache.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WideGroup(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int stride, int group, int hs,
                                  Span<float> scores, float scale, Span<float> output)
    {
        int count = scores.Length / group;
        ref float kp = ref MemoryMarshal.GetReference(keys);
        ref float vp = ref MemoryMarshal.GetReference(values);
        ref float sp = ref MemoryMarshal.GetReference(scores);
        ref float op = ref MemoryMarshal.GetReference(output);
        var vscale = Vector256.Create(scale);
        for (int b0 = 0; b0 < count; b0 += GroupBlock)
        {
            int b1 = Math.Min(count, b0 + GroupBlock);
            for (int h = 0; h < group; h++)
            {
                ref float qp = ref MemoryMarshal.GetReference(q.Slice(h * hs));
                ref float att = ref Unsafe.Add(ref sp, h * count);
                int t = b0;
                for (; t + 8 <= b1; t += 8)
                    StoreEight(Products(ref kp, t, stride, hs, ref qp), Products(ref kp, t + 1, stride, hs, ref qp),
                               Products(ref kp, t + 2, stride, hs, ref qp), Products(ref kp, t + 3, stride, hs, ref qp),
                               Products(ref kp, t + 4, stride, hs, ref qp), Products(ref kp, t + 5, stride, hs, ref qp),
                               Products(ref kp, t + 6, stride, hs, ref qp), Products(ref kp, t + 7, stride, hs, ref qp),
                               vscale, ref att, t);
                for (; t < b1; t++) Unsafe.Add(ref att, t) = SimdMath.Horizontal(Products(ref kp, t, stride, hs, ref qp)) * scale;
            }
        }
        for (int h = 0; h < group; h++)
        {
            var att = scores.Slice(h * count, count);
            TensorPrimitives.Subtract(att, SimdMath.Max(att), att);
            SimdMath.Map<SoftmaxExpMap>(att, att);
            TensorPrimitives.Multiply(att, 1f / SimdMath.Sum(att), att); // p_t = att_t · inv, as Axpy's multiplier
        }
        output.Clear();
        for (int b0 = 0; b0 < count; b0 += GroupBlock)
        {
            int b1 = Math.Min(count, b0 + GroupBlock);
            for (int h = 0; h < group; h++)
            {
                ref float a = ref Unsafe.Add(ref sp, h * count);
                ref float o = ref Unsafe.Add(ref op, h * hs);
                bool pair = h + 1 < group;
                for (int c = 0; c < hs; c += 32)
                {
                    if (pair && hs - c >= 32) Values2(ref vp, stride, c, b0, b1, ref a, ref o, ref Unsafe.Add(ref a, count), ref Unsafe.Add(ref o, hs));
                    else
                    {
                        Values(ref vp, stride, c, Math.Min(32, hs - c), b0, b1, ref a, ref o);
                        if (pair) Values(ref vp, stride, c, Math.Min(32, hs - c), b0, b1, ref Unsafe.Add(ref a, count), ref Unsafe.Add(ref o, hs));
                    }
                }
                if (pair) h++;
            }
        }
    }

    /// <summary>
    /// Output columns c .. c + width − 1 (width 8, 16, 24 or 32) of one head += Σ_t p_t·v_t over positions [b0, b1): one
    /// FMA per position and column in ascending t, accumulators loaded from and stored to the output (exact).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Values(ref float vp, int stride, int c, int width, int b0, int b1, ref float ap, ref float oh)
    {
        var a0 = Vector256.LoadUnsafe(ref oh, (nuint)c);
        var a1 = width >= 16 ? Vector256.LoadUnsafe(ref oh, (nuint)c + 8) : default;
        var a2 = width >= 24 ? Vector256.LoadUnsafe(ref oh, (nuint)c + 16) : default;
        var a3 = width == 32 ? Vector256.LoadUnsafe(ref oh, (nuint)c + 24) : default;
        for (int t = b0; t < b1; t++)
        {
            var p = Vector256.Create(Unsafe.Add(ref ap, t));
            nuint o = (nuint)(t * stride + c);
            a0 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref vp, o), a0);
            if (width >= 16) a1 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref vp, o + 8), a1);
            if (width >= 24) a2 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref vp, o + 16), a2);
            if (width == 32) a3 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref vp, o + 24), a3);
        }
        a0.StoreUnsafe(ref oh, (nuint)c);
        if (width >= 16) a1.StoreUnsafe(ref oh, (nuint)c + 8);
        if (width >= 24) a2.StoreUnsafe(ref oh, (nuint)c + 16);
        if (width == 32) a3.StoreUnsafe(ref oh, (nuint)c + 24);
    }

    /// <summary>
    /// <see cref="Values"/> at width 32 for two heads of the group at once: each value load feeds both heads' FMAs, and the
    /// eight independent chains hide the FMA latency that bounds one head's four (the same chains, so the same bits).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Values2(ref float vp, int stride, int c, int b0, int b1, ref float ap, ref float oh, ref float bp, ref float ob)
    {
        var a0 = Vector256.LoadUnsafe(ref oh, (nuint)c); var a1 = Vector256.LoadUnsafe(ref oh, (nuint)c + 8);
        var a2 = Vector256.LoadUnsafe(ref oh, (nuint)c + 16); var a3 = Vector256.LoadUnsafe(ref oh, (nuint)c + 24);
        var e0 = Vector256.LoadUnsafe(ref ob, (nuint)c); var e1 = Vector256.LoadUnsafe(ref ob, (nuint)c + 8);
        var e2 = Vector256.LoadUnsafe(ref ob, (nuint)c + 16); var e3 = Vector256.LoadUnsafe(ref ob, (nuint)c + 24);
        for (int t = b0; t < b1; t++)
        {
            var p = Vector256.Create(Unsafe.Add(ref ap, t));
            var r = Vector256.Create(Unsafe.Add(ref bp, t));
            nuint o = (nuint)(t * stride + c);
            var v0 = Vector256.LoadUnsafe(ref vp, o); var v1 = Vector256.LoadUnsafe(ref vp, o + 8);
            var v2 = Vector256.LoadUnsafe(ref vp, o + 16); var v3 = Vector256.LoadUnsafe(ref vp, o + 24);
            a0 = Vector256.FusedMultiplyAdd(p, v0, a0); e0 = Vector256.FusedMultiplyAdd(r, v0, e0);
            a1 = Vector256.FusedMultiplyAdd(p, v1, a1); e1 = Vector256.FusedMultiplyAdd(r, v1, e1);
            a2 = Vector256.FusedMultiplyAdd(p, v2, a2); e2 = Vector256.FusedMultiplyAdd(r, v2, e2);
            a3 = Vector256.FusedMultiplyAdd(p, v3, a3); e3 = Vector256.FusedMultiplyAdd(r, v3, e3);
        }
        a0.StoreUnsafe(ref oh, (nuint)c); a1.StoreUnsafe(ref oh, (nuint)c + 8); a2.StoreUnsafe(ref oh, (nuint)c + 16); a3.StoreUnsafe(ref oh, (nuint)c + 24);
        e0.StoreUnsafe(ref ob, (nuint)c); e1.StoreUnsafe(ref ob, (nuint)c + 8); e2.StoreUnsafe(ref ob, (nuint)c + 16); e3.StoreUnsafe(ref ob, (nuint)c + 24);
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
