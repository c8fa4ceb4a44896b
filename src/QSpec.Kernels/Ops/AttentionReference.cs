namespace QSpec.Kernels.Ops;

/// <summary>Scalar references for rotary embedding and causal grouped-query attention.</summary>
public static class AttentionReference
{
    /// <summary>
    /// Interleaved RoPE on X[M, heads · headSize] in place: pair (2i, 2i+1) of each head at position p is
    /// rotated by angle p · theta^(-2i / headSize) (llama2.c's convention).
    /// </summary>
    public static void Rope(Span<float> x, int rows, int heads, int headSize, ReadOnlySpan<int> positions, float theta)
    {
        int width = heads * headSize;
        for (int m = 0; m < rows; m++)
        {
            int pos = positions[m];
            for (int i = 0; i < headSize; i += 2)
            {
                var (c, s) = RopeCosSin(pos, i, headSize, theta);
                for (int h = 0; h < heads; h++)
                {
                    int o = m * width + h * headSize + i;
                    float a = x[o], b = x[o + 1];
                    x[o] = a * c - b * s;
                    x[o + 1] = a * s + b * c;
                }
            }
        }
    }

    /// <summary>cos and sin of the angle position · theta^(-i / headSize) for the pair starting at even index i.</summary>
    public static (float Cos, float Sin) RopeCosSin(int position, int i, int headSize, float theta)
    {
        float freq = 1f / MathF.Pow(theta, i / (float)headSize);
        float angle = position * freq;
        return (MathF.Cos(angle), MathF.Sin(angle));
    }

    /// <summary>
    /// Causal GQA for rows r &lt; M of Q at positions start + r, reading K/V [seqLen][kvDim] of one layer:
    /// scores = q·k / sqrt(headSize) over positions 0..start + r, softmax (max-subtracted), then Σ p · v.
    /// Positions are visited in ascending order, so the result for a row does not depend on M.
    /// </summary>
    public static void Attention(ReadOnlySpan<float> q, int rows, int heads, int kvHeads, int headSize,
                                 ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int start, Span<float> output)
    {
        int kvDim = kvHeads * headSize, group = heads / kvHeads;
        float scale = 1f / MathF.Sqrt(headSize);
        var att = new float[start + rows];
        for (int r = 0; r < rows; r++)
        {
            int len = start + r + 1;
            for (int h = 0; h < heads; h++)
            {
                var qh = q.Slice(r * heads * headSize + h * headSize, headSize);
                int kvOff = (h / group) * headSize;
                float max = float.NegativeInfinity;
                for (int t = 0; t < len; t++)
                {
                    var kt = keys.Slice(t * kvDim + kvOff, headSize);
                    float dot = 0f;
                    for (int i = 0; i < headSize; i++) dot += qh[i] * kt[i];
                    att[t] = dot * scale;
                    max = MathF.Max(max, att[t]);
                }
                float sum = 0f;
                for (int t = 0; t < len; t++) { att[t] = MathF.Exp(att[t] - max); sum += att[t]; }
                var oh = output.Slice(r * heads * headSize + h * headSize, headSize);
                oh.Clear();
                float inv = 1f / sum;
                for (int t = 0; t < len; t++)
                {
                    float p = att[t] * inv;
                    var vt = values.Slice(t * kvDim + kvOff, headSize);
                    for (int i = 0; i < headSize; i++) oh[i] += p * vt[i];
                }
            }
        }
    }
}
