using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Causal grouped-query attention over a float32 or FP16 KV cache. Per (query row, head): scores by the fixed-order
/// <see cref="SimdMath.Dot"/>, softmax with the vector exp, then Σ_t p_t·v_t by FMA in ascending t. A row's result
/// depends only on its own query, its position and the cache, never on M. An FP16 cache's visible prefix is widened
/// to float once per call (exact), into per-thread scratch.
/// </summary>
internal static class AttentionKernel
{
    [ThreadStatic] private static float[]? t_keys, t_values, t_scores;

    /// <summary>See <see cref="IBackend.Attention"/>; <paramref name="q"/> and <paramref name="output"/> are the rows of this call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(ReadOnlySpan<float> q, int rows, int heads, int kvHeads, int headSize, CpuBuffer keyCache, CpuBuffer valueCache,
                    long layerOffset, int start, Span<float> output, bool vector)
    {
        int kvDim = kvHeads * headSize, len = (start + rows) * kvDim;
        ReadOnlySpan<float> keys, values;
        if (keyCache.Precision == Backends.KvPrecision.Float32)
        {
            keys = keyCache.Span.Slice((int)layerOffset, len);
            values = valueCache.Span.Slice((int)layerOffset, len);
        }
        else
        {
            if (t_keys is null || t_keys.Length < len) { t_keys = new float[Grow(t_keys, len)]; t_values = new float[t_keys.Length]; }
            var kf = t_keys.AsSpan(0, len);
            var vf = t_values!.AsSpan(0, len);
            TensorPrimitives.ConvertToSingle(keyCache.HalfData.AsSpan((int)layerOffset, len), kf);
            TensorPrimitives.ConvertToSingle(valueCache.HalfData.AsSpan((int)layerOffset, len), vf);
            keys = kf;
            values = vf;
        }
        if (!vector)
        {
            AttentionReference.Attention(q, rows, heads, kvHeads, headSize, keys, values, start, output);
            return;
        }
        if (t_scores is null || t_scores.Length < start + rows) t_scores = new float[Grow(t_scores, start + rows)];
        var scores = t_scores;
        int group = heads / kvHeads, width = heads * headSize;
        float scale = 1f / MathF.Sqrt(headSize);
        for (int r = 0; r < rows; r++)
        {
            int count = start + r + 1;
            var att = scores.AsSpan(0, count);
            for (int h = 0; h < heads; h++)
            {
                var qh = q.Slice(r * width + h * headSize, headSize);
                int kvOff = (h / group) * headSize;
                var oh = output.Slice(r * width + h * headSize, headSize);
                if (headSize is 8 or 16 or 32)
                {
                    SmallHead(qh, keys.Slice(kvOff), values.Slice(kvOff), kvDim, att, scale, oh);
                    continue;
                }
                for (int t = 0; t < count; t++) att[t] = SimdMath.Dot(qh, keys.Slice(t * kvDim + kvOff, headSize)) * scale;
                TensorPrimitives.Subtract(att, SimdMath.Max(att), att);
                SimdMath.Map<ExpMap>(att, att);
                float inv = 1f / SimdMath.Sum(att);
                oh.Clear();
                for (int t = 0; t < count; t++) SimdMath.Axpy(att[t] * inv, values.Slice(t * kvDim + kvOff, headSize), oh);
            }
        }
    }

    /// <summary>Position <paramref name="t"/>'s score before the horizontal sum: the lanes s0 + s1 of SimdMath.Dot's two accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Products(ref float keys, int t, int stride, int hs, Vector256<float> q0, Vector256<float> q1,
                                             Vector256<float> q2, Vector256<float> q3)
    {
        nuint o = (nuint)(t * stride);
        var s0 = Vector256.FusedMultiplyAdd(q0, Vector256.LoadUnsafe(ref keys, o), Vector256<float>.Zero);
        var s1 = hs >= 16 ? Vector256.FusedMultiplyAdd(q1, Vector256.LoadUnsafe(ref keys, o + 8), Vector256<float>.Zero) : Vector256<float>.Zero;
        if (hs == 32)
        {
            s0 = Vector256.FusedMultiplyAdd(q2, Vector256.LoadUnsafe(ref keys, o + 16), s0);
            s1 = Vector256.FusedMultiplyAdd(q3, Vector256.LoadUnsafe(ref keys, o + 24), s1);
        }
        return s0 + s1;
    }

    /// <summary>[lower(a) + upper(a) | lower(b) + upper(b)]: the first step of SimdMath.Horizontal for two positions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Halves(Vector256<float> a, Vector256<float> b)
        => Avx.Permute2x128(a, b, 0x20) + Avx.Permute2x128(a, b, 0x31);

    /// <summary>
    /// A scratch length of at least <paramref name="need"/>, doubling the current one: the visible prefix grows by one
    /// position per decoded token, and growing to the exact need reallocated the scratch on every token.
    /// </summary>
    private static int Grow(float[]? current, int need) => Math.Max(need, Math.Max(256, 2 * (current?.Length ?? 0)));

    /// <summary>
    /// One (row, head) for head sizes 8, 16 and 32 (stories-size models, where per-position calls cost more than the
    /// math): q and the output stay in registers. The same operations in the same order as the general path
    /// (<see cref="SimdMath.Dot"/>'s two accumulators, the exp map, one FMA per position into the output), so the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmallHead(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int stride,
                                  Span<float> att, float scale, Span<float> output)
    {
        int hs = q.Length, count = att.Length;
        ref float kp = ref MemoryMarshal.GetReference(keys);
        ref float vp = ref MemoryMarshal.GetReference(values);
        ref float qp = ref MemoryMarshal.GetReference(q);
        var q0 = Vector256.LoadUnsafe(ref qp);
        var q1 = hs >= 16 ? Vector256.LoadUnsafe(ref qp, 8) : default;
        var q2 = hs == 32 ? Vector256.LoadUnsafe(ref qp, 16) : default;
        var q3 = hs == 32 ? Vector256.LoadUnsafe(ref qp, 24) : default;
        int t = 0;
        if (Avx2.IsSupported)
        {
            // Eight positions at a time: the per-lane products and the tree of SimdMath.Horizontal (halves, then
            // (a0 + a1) + (a2 + a3)) as vertical adds and two hadds instead of a shuffle chain per position; the same
            // additions of the same values, so the same bits. hadd yields positions 0, 2, 4, 6 | 1, 3, 5, 7.
            var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
            var vscale = Vector256.Create(scale);
            for (; t + 8 <= count; t += 8)
            {
                var z01 = Halves(Products(ref kp, t, stride, hs, q0, q1, q2, q3), Products(ref kp, t + 1, stride, hs, q0, q1, q2, q3));
                var z23 = Halves(Products(ref kp, t + 2, stride, hs, q0, q1, q2, q3), Products(ref kp, t + 3, stride, hs, q0, q1, q2, q3));
                var z45 = Halves(Products(ref kp, t + 4, stride, hs, q0, q1, q2, q3), Products(ref kp, t + 5, stride, hs, q0, q1, q2, q3));
                var z67 = Halves(Products(ref kp, t + 6, stride, hs, q0, q1, q2, q3), Products(ref kp, t + 7, stride, hs, q0, q1, q2, q3));
                var sums = Avx.HorizontalAdd(Avx.HorizontalAdd(z01, z23), Avx.HorizontalAdd(z45, z67));
                Avx2.PermuteVar8x32(sums * vscale, order).StoreUnsafe(ref MemoryMarshal.GetReference(att), (nuint)t);
            }
        }
        for (; t < count; t++) att[t] = SimdMath.Horizontal(Products(ref kp, t, stride, hs, q0, q1, q2, q3)) * scale;
        TensorPrimitives.Subtract(att, SimdMath.Max(att), att);
        SimdMath.Map<ExpMap>(att, att);
        TensorPrimitives.Multiply(att, 1f / SimdMath.Sum(att), att); // p_t = att_t · inv, one rounding each as before
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (t = 0; t < count; t++)
        {
            var p = Vector256.Create(att[t]);
            nuint o = (nuint)(t * stride);
            a0 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref vp, o), a0);
            if (hs >= 16) a1 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref vp, o + 8), a1);
            if (hs == 32)
            {
                a2 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref vp, o + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref vp, o + 24), a3);
            }
        }
        ref float op = ref MemoryMarshal.GetReference(output);
        a0.StoreUnsafe(ref op);
        if (hs >= 16) a1.StoreUnsafe(ref op, 8);
        if (hs == 32) { a2.StoreUnsafe(ref op, 16); a3.StoreUnsafe(ref op, 24); }
    }
}
