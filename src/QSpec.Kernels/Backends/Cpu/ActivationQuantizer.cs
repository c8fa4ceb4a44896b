using System.Runtime.CompilerServices;
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
                    for (; i + 32 <= columns; i += 32)
                    {
                        var r0 = Level(row.Slice(i, 8), vi, lo, hi);
                        var r1 = Level(row.Slice(i + 8, 8), vi, lo, hi);
                        var r2 = Level(row.Slice(i + 16, 8), vi, lo, hi);
                        var r3 = Level(row.Slice(i + 24, 8), vi, lo, hi);
                        // Values are within ±127, so the truncating narrows are exact.
                        Vector256.Narrow(Vector256.Narrow(r0, r1), Vector256.Narrow(r2, r3)).CopyTo(qr.Slice(i, 32));
                    }
                }
                for (; i < columns; i++)
                    qr[i] = (sbyte)Math.Clamp((int)MathF.Round(row[i] * inv), -qmax, qmax);
            }
            Interleave(qr, q.Interleaved.AsSpan(m * CpuQuantizedActivations.InterleavedStride(columns), CpuQuantizedActivations.InterleavedStride(columns)));
            var sums = q.ChunkSums.AsSpan(m * chunks, chunks);
            for (int c = 0; c < chunks; c++)
            {
                var chunk = qr.Slice(c * CpuQuantizedActivations.ChunkColumns, CpuQuantizedActivations.ChunkColumns);
                if (simd)
                {
                    // |Σ| ≤ 32·127 fits int16: widen, add the halves, sum (exact in any order).
                    var (lo, hi) = Vector256.Widen(Vector256.Create<sbyte>(chunk));
                    sums[c] = Vector256.Sum(lo + hi);
                    continue;
                }
                int s = 0;
                foreach (sbyte v in chunk) s += v;
                sums[c] = s;
            }
        }
    }

    /// <summary>Writes <paramref name="q"/> (padded to 64) in super-block nibble order, swapping columns 32..63 and 64..95 of each 128.</summary>
    private static void Interleave(ReadOnlySpan<sbyte> q, Span<sbyte> dst)
    {
        dst.Clear();
        for (int t = 0; 128 * t < q.Length; t++)
        {
            int b = 128 * t;
            q.Slice(b, 32).CopyTo(dst.Slice(b, 32));
            if (b + 64 < q.Length) q.Slice(b + 64, 32).CopyTo(dst.Slice(b + 32, 32));
            q.Slice(b + 32, 32).CopyTo(dst.Slice(b + 64, 32));
            if (b + 64 < q.Length) q.Slice(b + 96, 32).CopyTo(dst.Slice(b + 96, 32));
        }
    }

    /// <summary>clamp(round_even(x · inv), −qmax, qmax) for 8 elements.</summary>
    private static Vector256<int> Level(ReadOnlySpan<float> x, Vector256<float> inv, Vector256<int> lo, Vector256<int> hi)
        => Vector256.Min(Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Create(x) * inv)), lo), hi);

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
