using QSpec.Kernels.Formats;

namespace QSpec.Quantization;

/// <summary>Chooses the scale of one quantization group (one output channel × one run of input columns).</summary>
internal static class GroupScale
{
    /// <summary>
    /// The scale absmax · r / 7 for the clip ratio r in <paramref name="clipRatios"/> that minimizes
    /// Σ (w − q(w)·scale)² over the group, with q as in <see cref="Int4Matrix.QuantizeValue"/>. Ties keep the earlier
    /// ratio, so a grid starting at 1 reproduces plain RTN when clipping does not help. An all-zero group gives 0.
    /// With <paramref name="importance"/> (one non-negative weight per value, e.g. GPTQ's diag H) the error is
    /// Σ importance·(w − q(w)·scale)², the layer-output error of rounding that group alone.
    /// </summary>
    public static float Choose(ReadOnlySpan<float> values, ReadOnlySpan<float> clipRatios, ReadOnlySpan<double> importance = default)
    {
        float absMax = 0f;
        foreach (var v in values) absMax = MathF.Max(absMax, MathF.Abs(v));
        float best = absMax * clipRatios[0] / Int4Matrix.MaxValue;
        if (clipRatios.Length == 1 || absMax == 0f) return best;
        double bestError = SquaredError(values, best, importance);
        for (int i = 1; i < clipRatios.Length; i++)
        {
            float scale = absMax * clipRatios[i] / Int4Matrix.MaxValue;
            double error = SquaredError(values, scale, importance);
            if (error < bestError) { bestError = error; best = scale; }
        }
        return best;
    }

    /// <summary>Σ importance·(w − dequant(quant(w)))² for one scale (importance 1 when empty), accumulated in double.</summary>
    public static double SquaredError(ReadOnlySpan<float> values, float scale, ReadOnlySpan<double> importance = default)
    {
        double e = 0;
        for (int i = 0; i < values.Length; i++)
        {
            double d = values[i] - Int4Matrix.QuantizeValue(values[i], scale) * scale;
            e += (importance.IsEmpty ? 1 : importance[i]) * d * d;
        }
        return e;
    }
}
