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
        bool simd = vector && Vector256.IsHardwareAccelerated;
        for (int m = 0; m < rows; m++)
        {
            var row = x.Slice(m * columns, columns);
            QuantizeRow(row, simd ? AbsMaxVector(row) : AbsMaxScalar(row), bits, q, m, simd);
        }
    }

    /// <summary>
    /// Row <paramref name="m"/> of <paramref name="q"/> from <paramref name="row"/> and its absmax: the codes, the scale,
    /// the interleaved copy and the chunk sums, in one pass over the row (32 columns at a time, each chunk's codes
    /// stored to both layouts and summed while in a register).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeRow(ReadOnlySpan<float> row, float absMax, int bits, CpuQuantizedActivations q, int m, bool simd)
    {
        const int cc = CpuQuantizedActivations.ChunkColumns;
        int columns = row.Length, qmax = ActivationQuantReference.MaxLevel(bits);
        int kp = Int4Matrix.PadColumns(columns), chunks = kp / cc, xs = CpuQuantizedActivations.InterleavedStride(columns);
        var qr = q.Values.AsSpan(m * kp, kp);
        var dst = q.Interleaved.AsSpan(m * xs, xs);
        var sums = q.ChunkSums.AsSpan(m * chunks, chunks);
        if (absMax == 0f)
        {
            q.Scales[m] = 0f;
            qr.Clear(); dst.Clear(); sums.Clear();
            return;
        }
        float inv = qmax / absMax;
        q.Scales[m] = absMax / qmax;
        int i = 0;
        if (simd)
        {
            var vi = Vector256.Create(inv);
            var hi = Vector256.Create(qmax);
            var lo = Vector256.Create(-qmax);
            for (; i + cc <= columns; i += cc)
            {
                var r0 = Level(row.Slice(i, 8), vi, lo, hi);
                var r1 = Level(row.Slice(i + 8, 8), vi, lo, hi);
                var r2 = Level(row.Slice(i + 16, 8), vi, lo, hi);
                var r3 = Level(row.Slice(i + 24, 8), vi, lo, hi);
                // Values are within ±127, so the truncating narrows are exact.
                var w0 = Vector256.Narrow(r0, r1);
                var w1 = Vector256.Narrow(r2, r3);
                var codes = Vector256.Narrow(w0, w1);
                codes.CopyTo(qr.Slice(i, cc));
                codes.CopyTo(dst.Slice(InterleavedOffset(i), cc));
                // |Σ| ≤ 32·127 fits int16; integer sums are exact in any order.
                sums[i / cc] = Vector256.Sum(w0 + w1);
            }
        }
        // The scalar path, the tail columns and the zero padding: codes first, then their chunks' copies and sums.
        int first = i;
        qr.Slice(i).Clear();
        for (; i < columns; i++)
            qr[i] = (sbyte)Math.Clamp((int)MathF.Round(row[i] * inv), -qmax, qmax);
        for (int c = first / cc; c < chunks; c++)
        {
            var chunk = qr.Slice(c * cc, cc);
            chunk.CopyTo(dst.Slice(InterleavedOffset(c * cc), cc));
            int s = 0;
            foreach (sbyte v in chunk) s += v;
            sums[c] = s;
        }
        if (xs != kp)
        {
            // A half last super block (K padded to 64, not 128): its chunks sit at +0 and +64; the other two are zero.
            dst.Slice(kp - cc, cc).Clear();
            dst.Slice(kp + cc, cc).Clear();
        }
    }

    /// <summary>
    /// Where column <paramref name="i"/> (a multiple of 32) goes in the interleaved layout: per 128 columns the chunks
    /// 0..31, 64..95, 32..63, 96..127, i.e. the middle two swapped.
    /// </summary>
    private static int InterleavedOffset(int i)
    {
        int within = i & 127;
        return (i & ~127) + (within == 32 ? 64 : within == 64 ? 32 : within);
    }

    /// <summary>clamp(round_even(x · inv), −qmax, qmax) for 8 elements.</summary>
    private static Vector256<int> Level(ReadOnlySpan<float> x, Vector256<float> inv, Vector256<int> lo, Vector256<int> hi)
        => Vector256.Min(Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Create(x) * inv)), lo), hi);

    public static float AbsMaxScalar(ReadOnlySpan<float> row)
    {
        float absMax = 0f;
        foreach (float v in row) absMax = MathF.Max(absMax, MathF.Abs(v));
        return absMax;
    }

    public static float AbsMaxVector(ReadOnlySpan<float> row)
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
