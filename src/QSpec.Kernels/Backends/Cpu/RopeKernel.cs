using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Interleaved RoPE, bit-identical to <see cref="AttentionReference.Rope"/>: the angles are the reference's scalar
/// cos/sin per (position, pair), and each pair is rotated as x·[c, c] + swap(x)·[−s, s], which is the same two
/// products and one sum per element (a·c + b·(−s) = a·c − b·s exactly; no FMA).
/// </summary>
internal static class RopeKernel
{
    /// <summary>Rotates X[M, heads · headSize] in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply(Span<float> x, int rows, int heads, int headSize, ReadOnlySpan<int> positions, float theta, bool vector)
    {
        if (!vector || headSize % 8 != 0) { AttentionReference.Rope(x, rows, heads, headSize, positions, theta); return; }
        Span<float> cos = stackalloc float[headSize], sin = stackalloc float[headSize];
        var swap = Vector256.Create(1, 0, 3, 2, 5, 4, 7, 6);
        int width = heads * headSize;
        for (int m = 0; m < rows; m++)
        {
            int pos = positions[m];
            for (int i = 0; i < headSize; i += 2)
            {
                var (c, s) = AttentionReference.RopeCosSin(pos, i, headSize, theta);
                cos[i] = c; cos[i + 1] = c;
                sin[i] = -s; sin[i + 1] = s;
            }
            ref float row = ref MemoryMarshal.GetReference(x.Slice(m * width, width));
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < headSize; i += 8)
                {
                    nuint o = (nuint)(h * headSize + i);
                    var v = Vector256.LoadUnsafe(ref row, o);
                    var r = v * Vector256.Create(cos.Slice(i, 8)) + Vector256.Shuffle(v, swap) * Vector256.Create(sin.Slice(i, 8));
                    r.StoreUnsafe(ref row, o);
                }
        }
    }
}
