namespace QSpec.Kernels.Ops;

/// <summary>Scalar reference for per-token symmetric activation quantization (the draft modes' quantizer).</summary>
public static class ActivationQuantReference
{
    /// <summary>Largest integer magnitude for a bit width: 7 for INT4 (the paper's absmax/7), 127 for INT8.</summary>
    public static int MaxLevel(int bits) => bits switch
    {
        4 => 7,
        8 => 127,
        _ => throw new ArgumentOutOfRangeException(nameof(bits), bits, "Activation bits must be 4 or 8."),
    };

    /// <summary>
    /// Quantizes X[M, K] row by row: absmax over the row; scale = absmax / qmax;
    /// q = clamp(round_even(x · (qmax / absmax)), -qmax, qmax); padding columns up to Kp = pad64(K) are zero.
    /// An all-zero row gets scale 0.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> x, int rows, int columns, int bits, Span<sbyte> q, Span<float> scales)
    {
        int qmax = MaxLevel(bits);
        int kp = Formats.Int4Matrix.PadColumns(columns);
        for (int m = 0; m < rows; m++)
        {
            var row = x.Slice(m * columns, columns);
            var qr = q.Slice(m * kp, kp);
            float absMax = 0f;
            foreach (float v in row) absMax = MathF.Max(absMax, MathF.Abs(v));
            qr.Clear();
            if (absMax == 0f) { scales[m] = 0f; continue; }
            float inv = qmax / absMax;
            scales[m] = absMax / qmax;
            for (int i = 0; i < columns; i++)
                qr[i] = (sbyte)Math.Clamp((int)MathF.Round(row[i] * inv), -qmax, qmax);
        }
    }
}
