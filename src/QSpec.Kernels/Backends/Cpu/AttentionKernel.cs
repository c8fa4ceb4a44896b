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
/// to float once per call (exact), into per-thread scratch. Head sizes that are multiples of 8 run register paths with
/// the same operations in the same order (<see cref="SmallHead"/> for 8/16/32, <see cref="WideGroup"/> above, a GQA
/// group at a time); large calls are split over the backend's threads by (row, KV head), which changes no bit either.
/// </summary>
internal static partial class AttentionKernel
{
    [ThreadStatic] private static float[]? t_keys, t_values, t_scores;

    /// <summary>See <see cref="IBackend.Attention"/> on the calling thread alone; <paramref name="q"/> and <paramref name="output"/> are the rows of this call.</summary>
    public static void Run(ReadOnlySpan<float> q, int rows, int heads, int kvHeads, int headSize, CpuBuffer keyCache, CpuBuffer valueCache,
                    long layerOffset, int start, Span<float> output, bool vector)
    {
        var (keys, values) = Visible(rows, kvHeads * headSize, keyCache, valueCache, layerOffset, start);
        if (!vector)
        {
            AttentionReference.Attention(q, rows, heads, kvHeads, headSize, keys.Span, values.Span, start, output);
            return;
        }
        Units(q, heads, kvHeads, headSize, keys.Span, values.Span, start, output, 0, rows * kvHeads);
    }

    /// <summary>
    /// The same over the backend's threads: the (row, KV head) units are split into contiguous ranges, each computed exactly
    /// as <see cref="Run(ReadOnlySpan{float}, int, int, int, int, CpuBuffer, CpuBuffer, long, int, Span{float}, bool)"/>
    /// computes it (a unit reads only its queries, the cache and its thread's score scratch), so the split never changes a
    /// bit. Calls with less than <see cref="CpuBackendOptions.ParallelThreshold"/> multiply-adds (stories-size models, short
    /// contexts) stay on the calling thread, where a fork/join would cost more than it saves.
    /// </summary>
    /// <remarks>
    /// Single-threaded, attention was 6-16 % of a TinyLlama-shape W4A8 decode step at 300-1000 positions (perf, 2 threads),
    /// with the second core idle. An FP16 cache is widened once, on the calling thread, into its scratch, which the
    /// workers then read. The job is the thread's reused <see cref="ChannelJob"/>, so a call allocates nothing.
    /// </remarks>
    public static void Run(CpuWorkerPool pool, CpuBackendOptions options, float[] q, int qOffset, int rows, int heads, int kvHeads, int headSize,
                           CpuBuffer keyCache, CpuBuffer valueCache, long layerOffset, int start, float[] output, bool vector)
    {
        int width = heads * headSize;
        long work = 2L * rows * heads * (start + rows) * headSize; // scores and the weighted sum of values
        if (!vector || work < options.ParallelThreshold || options.MaxThreads == 1 || options.SerialAttention)
        {
            Run(q.AsSpan(qOffset, rows * width), rows, heads, kvHeads, headSize, keyCache, valueCache, layerOffset, start,
                output.AsSpan(qOffset, rows * width), vector);
            return;
        }
        var job = ChannelJob.For<UnitsJob>();
        (job.Keys, job.Values) = Visible(rows, kvHeads * headSize, keyCache, valueCache, layerOffset, start);
        job.Q = q; job.Output = output; job.Offset = qOffset; job.Rows = rows;
        job.Heads = heads; job.KvHeads = kvHeads; job.HeadSize = headSize; job.Start = start;
        pool.Run(rows * kvHeads, options.MaxThreads, 1, job);
    }

    /// <summary>The visible prefix (positions 0 .. start + rows − 1) of one layer's keys and values as float32 (an FP16 cache widened into this thread's scratch).</summary>
    private static (ReadOnlyMemory<float> Keys, ReadOnlyMemory<float> Values) Visible(int rows, int kvDim, CpuBuffer keyCache, CpuBuffer valueCache, long layerOffset, int start)
    {
        int len = (start + rows) * kvDim;
        if (keyCache.Precision == KvPrecision.Float32)
            return (keyCache.Data.AsMemory((int)layerOffset, len), valueCache.Data.AsMemory((int)layerOffset, len));
        if (t_keys is null || t_keys.Length < len) { t_keys = new float[Grow(t_keys, len)]; t_values = new float[t_keys.Length]; }
        TensorPrimitives.ConvertToSingle(keyCache.HalfData.AsSpan((int)layerOffset, len), t_keys.AsSpan(0, len));
        TensorPrimitives.ConvertToSingle(valueCache.HalfData.AsSpan((int)layerOffset, len), t_values.AsSpan(0, len));
        return (t_keys.AsMemory(0, len), t_values!.AsMemory(0, len));
    }

    /// <summary>
    /// The (row, KV head) units u in [<paramref name="first"/>, <paramref name="end"/>), u = r · kvHeads + g: the query heads
    /// g · group .. g · group + group − 1 of row r, which share KV head g. Per head: scores by the fixed-order
    /// <see cref="SimdMath.Dot"/>, softmax, then Σ_t p_t·v_t in ascending t, into the output slice of (r, h). Wide heads
    /// run a whole group at once (<see cref="WideGroup"/>), the others head by head.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Units(ReadOnlySpan<float> q, int heads, int kvHeads, int headSize, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
                              int start, Span<float> output, int first, int end)
    {
        int group = heads / kvHeads, width = heads * headSize, kvDim = kvHeads * headSize;
        bool wide = headSize % 8 == 0 && headSize > 32 && Avx2.IsSupported;
        int rows = (end + kvHeads - 1) / kvHeads, need = (wide ? group : 1) * (start + rows);
        if (t_scores is null || t_scores.Length < need) t_scores = new float[Grow(t_scores, need)];
        var scores = t_scores;
        float scale = 1f / MathF.Sqrt(headSize);
        for (int u = first; u < end; u++)
        {
            int r = u / kvHeads, g = u % kvHeads, count = start + r + 1, kvOff = g * headSize;
            int h0 = g * group, at = r * width + h0 * headSize;
            if (wide)
            {
                WideGroup(q.Slice(at, group * headSize), keys.Slice(kvOff), values.Slice(kvOff), kvDim, group, headSize,
                          scores.AsSpan(0, group * count), scale, output.Slice(at, group * headSize));
                continue;
            }
            var att = scores.AsSpan(0, count);
            for (int h = h0; h < h0 + group; h++)
            {
                var qh = q.Slice(r * width + h * headSize, headSize);
                var oh = output.Slice(r * width + h * headSize, headSize);
                if (headSize is 8 or 16 or 32)
                {
                    SmallHead(qh, keys.Slice(kvOff), values.Slice(kvOff), kvDim, att, scale, oh);
                    continue;
                }
                for (int t = 0; t < count; t++) att[t] = SimdMath.Dot(qh, keys.Slice(t * kvDim + kvOff, headSize)) * scale;
                TensorPrimitives.Subtract(att, SimdMath.Max(att), att);
                SimdMath.Map<SoftmaxExpMap>(att, att);
                float inv = 1f / SimdMath.Sum(att);
                oh.Clear();
                for (int t = 0; t < count; t++) SimdMath.Axpy(att[t] * inv, values.Slice(t * kvDim + kvOff, headSize), oh);
            }
        }
    }

    /// <summary>A parallel call's (row, KV head) units as a reused job: the arrays of the call, released after it.</summary>
    private sealed class UnitsJob : ChannelJob
    {
        public float[]? Q, Output;
        public ReadOnlyMemory<float> Keys, Values;
        public int Offset, Rows, Heads, KvHeads, HeadSize, Start;

        public override void Release() { Q = null; Output = null; Keys = default; Values = default; }

        protected override void Run(int start, int end)
        {
            int width = Heads * HeadSize;
            Units(Q.AsSpan(Offset, Rows * width), Heads, KvHeads, HeadSize, Keys.Span, Values.Span,
                  Start, Output.AsSpan(Offset, Rows * width), start, end);
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

    /// <summary>
    /// att[t .. t + 7] = scale · Horizontal(p_i) for the products p0..p7 of eight consecutive positions: the tree of
    /// SimdMath.Horizontal (halves, then (a0 + a1) + (a2 + a3)) as vertical adds and two hadds instead of a shuffle chain
    /// per position; the same additions of the same values, so the same bits. hadd yields positions 0, 2, 4, 6 | 1, 3, 5, 7,
    /// which the final permute puts back in order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreEight(Vector256<float> p0, Vector256<float> p1, Vector256<float> p2, Vector256<float> p3, Vector256<float> p4,
                                   Vector256<float> p5, Vector256<float> p6, Vector256<float> p7, Vector256<float> scale, ref float att, int t)
    {
        var sums = Avx.HorizontalAdd(Avx.HorizontalAdd(Halves(p0, p1), Halves(p2, p3)), Avx.HorizontalAdd(Halves(p4, p5), Halves(p6, p7)));
        Avx2.PermuteVar8x32(sums * scale, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).StoreUnsafe(ref att, (nuint)t);
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
            // Eight positions at a time (StoreEight: SimdMath.Horizontal's tree as vertical adds, the same bits).
            var vscale = Vector256.Create(scale);
            ref float ap = ref MemoryMarshal.GetReference(att);
            for (; t + 8 <= count; t += 8)
                StoreEight(Products(ref kp, t, stride, hs, q0, q1, q2, q3), Products(ref kp, t + 1, stride, hs, q0, q1, q2, q3),
                           Products(ref kp, t + 2, stride, hs, q0, q1, q2, q3), Products(ref kp, t + 3, stride, hs, q0, q1, q2, q3),
                           Products(ref kp, t + 4, stride, hs, q0, q1, q2, q3), Products(ref kp, t + 5, stride, hs, q0, q1, q2, q3),
                           Products(ref kp, t + 6, stride, hs, q0, q1, q2, q3), Products(ref kp, t + 7, stride, hs, q0, q1, q2, q3),
                           vscale, ref ap, t);
        }
        for (; t < count; t++) att[t] = SimdMath.Horizontal(Products(ref kp, t, stride, hs, q0, q1, q2, q3)) * scale;
        TensorPrimitives.Subtract(att, SimdMath.Max(att), att);
        SimdMath.Map<SoftmaxExpMap>(att, att);
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
