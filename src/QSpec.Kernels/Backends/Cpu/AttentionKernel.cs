using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
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
            if (t_keys is null || t_keys.Length < len) { t_keys = new float[len]; t_values = new float[len]; }
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
        if (t_scores is null || t_scores.Length < start + rows) t_scores = new float[start + rows];
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
                for (int t = 0; t < count; t++) att[t] = SimdMath.Dot(qh, keys.Slice(t * kvDim + kvOff, headSize)) * scale;
                TensorPrimitives.Subtract(att, SimdMath.Max(att), att);
                SimdMath.Map<ExpMap>(att, att);
                float inv = 1f / SimdMath.Sum(att);
                var oh = output.Slice(r * width + h * headSize, headSize);
                oh.Clear();
                for (int t = 0; t < count; t++) SimdMath.Axpy(att[t] * inv, values.Slice(t * kvDim + kvOff, headSize), oh);
            }
        }
    }
}
