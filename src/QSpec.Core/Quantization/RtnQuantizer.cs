using QSpec.Kernels.Formats;

namespace QSpec.Quantization;

/// <summary>Round-to-nearest INT4 quantization with an optional per-group clip search.</summary>
public static class RtnQuantizer
{
    /// <summary>
    /// Quantizes W[N, K] (row-major) group by group. With a single clip ratio this is exactly
    /// <see cref="Int4Matrix.Quantize(ReadOnlySpan{float}, int, int, int, float)"/>; with several, each group uses the ratio minimizing its squared error.
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
        var ratios = clipRatios.ToArray();
        return Int4Matrix.Quantize(weights, rows, columns, groupSize, group => GroupScale.Choose(group, ratios));
    }
}
