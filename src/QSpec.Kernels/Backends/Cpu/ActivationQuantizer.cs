using System.Runtime.Intrinsics;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Per-token symmetric activation quantization, bit-identical to <see cref="ActivationQuantReference"/>: the same
/// float absmax, the same multiplier qmax / absmax, round-half-even (Vector256.Round) and clamp. Also writes the
/// 32-column chunk sums the integer kernels need for the nibble-offset correction.
/// </summary>
internal static class ActivationQuantizer
{
    /// <summary>Quantizes X[M, K] into <paramref name="q"/>.</summary>
    public static void Quantize(ReadOnlySpan<float> x, int rows, int columns, int bits, CpuQuantizedActivations q, bool vector)
    {
        int qmax = ActivationQuantReference.MaxLevel(bits);
        int kp = Int4Matrix.PadColumns(columns), chunks = kp / CpuQuantizedActivations.ChunkColumns;
        bool simd = vector && Vector256.IsHardwareAccelerated;
        for (int m = 0; m < rows; m++)
        {
            var row = x.Slice(m * columns, columns);
            var qr = q.Values.AsSpan(m * kp, kp);
            float absMax = simd ? AbsMaxVector(row) : AbsMaxScalar(row);
            qr.Clear();
            if (absMax == 0f) q.Scales[m] = 0f;
            else
            {
                float inv = qmax / absMax;
                q.Scales[m] = absMax / qmax;
                int i = 0;
                if (simd)
                {
                    var vi = Vector256.Create(inv);
                    var hi = Vector256.Create(qmax);
                    var lo = Vector256.Create(-qmax);
                    for (; i + 8 <= columns; i += 8)
                    {
                        var r = Vector256.ConvertToInt32(Vector256.Round(Vector256.Create(row.Slice(i, 8)) * vi));
                        r = Vector256.Min(Vector256.Max(r, lo), hi);
                        for (int l = 0; l < 8; l++) qr[i + l] = (sbyte)r.GetElement(l);
                    }
                }
                for (; i < columns; i++)
                    qr[i] = (sbyte)Math.Clamp((int)MathF.Round(row[i] * inv), -qmax, qmax);
            }
            var sums = q.ChunkSums.AsSpan(m * chunks, chunks);
            for (int c = 0; c < chunks; c++)
            {
                int s = 0;
                foreach (sbyte v in qr.Slice(c * CpuQuantizedActivations.ChunkColumns, CpuQuantizedActivations.ChunkColumns)) s += v;
                sums[c] = s;
            }
        }
    }

    private static float AbsMaxScalar(ReadOnlySpan<float> row)
    {
        float absMax = 0f;
        foreach (float v in row) absMax = MathF.Max(absMax, MathF.Abs(v));
        return absMax;
    }

    private static float AbsMaxVector(ReadOnlySpan<float> row)
    {
        // Max is exact and order-free for finite inputs, so any grouping gives the reference's value.
        var acc = Vector256<float>.Zero;
        int i = 0;
        for (; i + 8 <= row.Length; i += 8) acc = Vector256.Max(acc, Vector256.Abs(Vector256.Create(row.Slice(i, 8))));
        float absMax = 0f;
        for (int l = 0; l < 8; l++) absMax = MathF.Max(absMax, acc.GetElement(l));
        for (; i < row.Length; i++) absMax = MathF.Max(absMax, MathF.Abs(row[i]));
        return absMax;
    }
}
