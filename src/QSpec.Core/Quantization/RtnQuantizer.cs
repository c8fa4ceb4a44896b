using QSpec.Kernels.Formats;

namespace QSpec.Quantization;

/// <summary>Round-to-nearest INT4 quantization with an optional per-group clip search.</summary>
public static class RtnQuantizer
{
    /// <summary>
    /// Quantizes W[N, K] (row-major) group by group. With a single clip ratio this is exactly
    /// <see cref="Int4Matrix.Quantize"/>; with several, each group uses the ratio minimizing its squared error.
    /// </summary>
    /// <param name="weights">W[N, K], N·K floats.</param>
    /// <param name="groupSize">0 (per output channel), 32, 64 or 128.</param>
    /// <param name="clipRatios">Ratios in (0, 1] to try, e.g. from <see cref="QuantizerOptions.ClipRatios"/>.</param>
    public static Int4Matrix Quantize(ReadOnlySpan<float> weights, int rows, int columns, int groupSize, ReadOnlySpan<float> clipRatios)
    {
        if (clipRatios.Length == 0) throw new ArgumentException("At least one clip ratio is needed.", nameof(clipRatios));
        foreach (var r in clipRatios)
            if (!(r > 0f && r <= 1f)) throw new ArgumentOutOfRangeException(nameof(clipRatios), r, "Clip ratios must be in (0, 1].");
        if (clipRatios.Length == 1) return Int4Matrix.Quantize(weights, rows, columns, groupSize, clipRatios[0]);
        if (weights.Length != (long)rows * columns)
            throw new ArgumentException($"Expected {(long)rows * columns} weights for {rows}x{columns}, got {weights.Length}.", nameof(weights));

        var m = Int4Matrix.CreateZero(rows, columns, groupSize);
        int g = m.EffectiveGroupSize;
        for (int n = 0; n < rows; n++)
        {
            var row = weights.Slice(n * columns, columns);
            for (int gi = 0; gi < m.GroupCount; gi++)
            {
                int start = gi * g, end = Math.Min(columns, start + g);
                float scale = GroupScale.Choose(row[start..end], clipRatios);
                m.Scales[n * m.GroupCount + gi] = scale;
                for (int k = start; k < end; k++) m.SetValue(n, k, Int4Matrix.QuantizeValue(row[k], scale));
            }
        }
        return m;
    }
}
