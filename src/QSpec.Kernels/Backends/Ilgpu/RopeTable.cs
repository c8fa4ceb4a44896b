namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Host side of the RoPE cos/sin table: entry (p, i) = cos and sin of p · theta^(-2i / headSize), computed exactly as
/// <see cref="Ops.AttentionReference.Rope"/> does (float pow, product and MathF.Cos/Sin).
/// </summary>
internal static class RopeTable
{
    /// <summary>Fills positions [0, positions) of a table for <paramref name="headSize"/> and <paramref name="theta"/>.</summary>
    public static float[] Build(int positions, int headSize, float theta)
    {
        int half = headSize / 2;
        var table = new float[(long)positions * half * 2];
        for (int i = 0; i < half; i++)
            for (int p = 0; p < positions; p++)
            {
                long o = ((long)p * half + i) * 2;
                (table[o], table[o + 1]) = Ops.AttentionReference.RopeCosSin(p, 2 * i, headSize, theta);
            }
        return table;
    }
}
