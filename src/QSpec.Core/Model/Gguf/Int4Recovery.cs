using QSpec.Kernels.Formats;

namespace QSpec.Model.Gguf;

/// <summary>
/// Recovers an exact G = 32 <see cref="Int4Matrix"/> from float32 weights that are already INT4 values, such as the
/// ffn_down matrices (row length 172, not a multiple of Q4_0's 32) that <see cref="GgufExport"/> writes dequantized as F32.
/// </summary>
internal static class Int4Recovery
{
    /// <summary>
    /// The matrix whose dequantized values equal <paramref name="w"/> bit for bit, or null when some group has no scale s
    /// and codes q in [-8, 7] with q·s == w in float32. Candidate scales per group: absmax / k for k = 7, 8, 6, ..., 1 and
    /// their neighbouring floats (the division may not undo the multiplication exactly).
    /// </summary>
    public static Int4Matrix? TryExact(float[] w, int rows, int columns)
    {
        var m = Int4Matrix.CreateZero(rows, columns, 32);
        Span<int> codes = stackalloc int[32];
        for (int n = 0; n < rows; n++)
        {
            for (int g = 0; g < m.GroupCount; g++)
            {
                int start = g * 32, end = Math.Min(columns, start + 32);
                var values = w.AsSpan(n * columns + start, end - start);
                float absMax = 0;
                foreach (var v in values) absMax = MathF.Max(absMax, MathF.Abs(v));
                float scale = 0;
                if (absMax != 0 && !TryScale(values, absMax, codes, out scale)) return null;
                m.Scales[n * m.GroupCount + g] = scale;
                for (int k = start; k < end; k++) m.SetValue(n, k, absMax == 0 ? 0 : codes[k - start]);
            }
        }
        return m;
    }

    private static bool TryScale(ReadOnlySpan<float> values, float absMax, Span<int> codes, out float scale)
    {
        foreach (int k in (ReadOnlySpan<int>)[7, 8, 6, 5, 4, 3, 2, 1])
        {
            float c = absMax / k;
            foreach (var s in (ReadOnlySpan<float>)[c, MathF.BitDecrement(c), MathF.BitIncrement(c)])
            {
                if (Fits(values, s, codes)) { scale = s; return true; }
            }
        }
        scale = 0;
        return false;
    }

    private static bool Fits(ReadOnlySpan<float> values, float s, Span<int> codes)
    {
        if (!(s > 0) || !float.IsFinite(s)) return false;
        for (int i = 0; i < values.Length; i++)
        {
            float q = MathF.Round(values[i] / s);
            if (q < Int4Matrix.MinValue || q > Int4Matrix.MaxValue || (int)q * s != values[i]) return false;
            codes[i] = (int)q;
        }
        return true;
    }
}
