using System.Runtime.CompilerServices;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>Portable integer linear kernel: the reference's arithmetic and order, reading nibbles block by block.</summary>
internal static class LinearIntScalar
{
    /// <summary>Y[m, j] for m &lt; rows, one output channel <paramref name="j"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Channel(ReadOnlySpan<sbyte> qa, ReadOnlySpan<float> activationScales, int rows, Int4Matrix w, int j, Span<float> y)
    {
        int k = w.Columns, kp = w.PaddedColumns, g = w.EffectiveGroupSize;
        ReadOnlySpan<byte> row = w.Data.AsSpan(j * w.RowBytes, w.RowBytes);
        ReadOnlySpan<float> scales = w.Scales.AsSpan(j * w.GroupCount, w.GroupCount);
        for (int m = 0; m < rows; m++)
        {
            var a = qa.Slice(m * kp, kp);
            float acc = 0f;
            for (int gi = 0; gi < scales.Length; gi++)
            {
                int dot = 0;
                for (int i = gi * g, end = Math.Min(k, i + g); i < end; i++)
                {
                    int packed = row[(i >> 6) * Int4Matrix.BlockBytes + (i & 31)];
                    int u = (i & 32) != 0 ? packed >> 4 : packed & 0xF;
                    dot += a[i] * (u - Int4Matrix.NibbleOffset);
                }
                acc += dot * scales[gi];
            }
            y[m * w.Rows + j] = acc * activationScales[m];
        }
    }
}
