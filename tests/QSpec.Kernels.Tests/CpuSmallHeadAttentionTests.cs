using System.Numerics.Tensors;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The CPU attention's register paths (eight scores at a time) against the general vector path they replace, written out
/// here with the same SimdMath helpers: bit for bit, at position counts around the eight-position step (1, 7, 8, 9, 17,
/// 64, 65, 100, 130: inside, at and past the wide path's 64-position blocks) and KV groups of 1, 2 and 8 heads. Head sizes
/// 8, 16 and 32 take the small-head path (stories-size models); 24, 40, 64 and 128 the wide path, a KV group at a time
/// (TinyLlama, Llama), including passes of 8, 16 and 24 output columns.
/// </summary>
public sealed class CpuSmallHeadAttentionTests
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (int hs in new[] { 8, 16, 32, 24, 40, 64, 128 })
            foreach (int count in new[] { 1, 7, 8, 9, 17, 64, 65, 100, 130 })
                foreach (var (heads, kvHeads) in new[] { (4, 2), (8, 1), (3, 3) })
                    yield return [hs, count, heads, kvHeads];
    }

    [Theory, MemberData(nameof(Cases))]
    public void RegisterHeads_EqualTheGeneralVectorPathBitwise(int hs, int count, int heads, int kvHeads)
    {
        if (!CpuPaths.HasAvx2) return; // the register path is the vector path's
        const int rows = 1;
        int kvDim = kvHeads * hs, start = count - rows;
        using var keys = new CpuBuffer((long)count * kvDim);
        using var values = new CpuBuffer((long)count * kvDim);
        TestData.Floats(count * kvDim, hs + count).CopyTo(keys.Span);
        TestData.Floats(count * kvDim, 2 * hs + count).CopyTo(values.Span);
        var q = TestData.Floats(rows * heads * hs, 3 * hs + count, 2f);
        var output = new float[rows * heads * hs];
        AttentionKernel.Run(q, rows, heads, kvHeads, hs, keys, values, 0, start, output, vector: true);
        TestData.AssertBitwise(General(q, heads, kvHeads, hs, keys.Span, values.Span, count), output);
    }

    /// <summary>The general path of AttentionKernel.Run (any head size) for one query row attending to positions 0..count-1.</summary>
    private static float[] General(float[] q, int heads, int kvHeads, int hs, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int count)
    {
        int kvDim = kvHeads * hs, group = heads / kvHeads;
        float scale = 1f / MathF.Sqrt(hs);
        var output = new float[heads * hs];
        var att = new float[count];
        for (int h = 0; h < heads; h++)
        {
            var qh = q.AsSpan(h * hs, hs);
            int kvOff = (h / group) * hs;
            var oh = output.AsSpan(h * hs, hs);
            for (int t = 0; t < count; t++) att[t] = SimdMath.Dot(qh, keys.Slice(t * kvDim + kvOff, hs)) * scale;
            TensorPrimitives.Subtract(att, SimdMath.Max(att), att);
            SimdMath.Map<SoftmaxExpMap>(att, att);
            float inv = 1f / SimdMath.Sum(att);
            oh.Clear();
            for (int t = 0; t < count; t++) SimdMath.Axpy(att[t] * inv, values.Slice(t * kvDim + kvOff, hs), oh);
        }
        return output;
    }
}
