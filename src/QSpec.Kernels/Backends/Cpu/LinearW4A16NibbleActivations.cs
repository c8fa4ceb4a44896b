using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// The activations of <see cref="LinearW4A16Nibble"/>, permuted once per call into the order its dequantization
/// produces the weights, plus the per-lane offset sums that cancel the dequantized weights' constant 1.5.
/// </summary>
/// <remarks>
/// <para><b>Layout.</b> Per row, per pair p of 64-column blocks (columns 128p..128p+127), <see cref="LinearW4A16Nibble.PairFloats"/>
/// floats: vector i (0 ≤ i &lt; 8) at 16·i holds, in lane l, x[128p + 64·(l / 8) + 4·(l mod 8) + i / 2 + 32·(i mod 2)], the
/// column whose weight is nibble i of dword l of the pair's 64 packed bytes (byte 4l + i/2; low nibble: column j of its
/// block, high: 32 + j). Then −1.5·Σ of the even vectors at 128 and of the odd ones at 144 (G = 32), or −1.5·Σ of all
/// eight at 128 and zeros at 144 (wider groups); each sum is taken in one fixed order. Columns at or past K are zero.</para>
/// <para>The buffer is per calling thread and layout (split or not), pinned, and 64-byte aligned at the returned offset.</para>
/// </remarks>
internal static unsafe class LinearW4A16NibbleActivations
{
    // One slot per calling thread and layout (see PermutedActivationSlot: a fused op's matrices may differ in group size).
    [ThreadStatic] private static PermutedActivationSlot? t_slot, t_splitSlot, t_denormalSlot, t_denormalSplitSlot;

    /// <summary>
    /// E of the denormal form: the nibble at bits 4j..4j+3 read as a float is u·2^(4j − 149), so x·2^(E − 4j) times it is
    /// x·u·2^(E − 149). 80 keeps x·2^E finite for |x| &lt; 2^48 and x·u·2^−69 normal for |x| ≥ 2^−57 (below that, the
    /// product is a denormal: absolute error ≤ 2^−149 before the output's 2^69, i.e. 2^−80).
    /// </summary>
    public const int DenormalExponent = 80;

    /// <summary>Row stride (floats) of the permuted activations for K = <paramref name="k"/>.</summary>
    public static int Stride(int k) => (k + 127) / 128 * LinearW4A16Nibble.PairFloats;

    /// <summary>Permutes X[M, K] (row-major, rows·k floats) for a matrix whose even and odd nibbles are separate groups
    /// (<paramref name="split"/>, G = 32) or not.</summary>
    /// <remarks>Within one fused op's capture, X is permuted once for all its calls (<see cref="PermutedActivationSlot"/>).
    /// <paramref name="denormal"/> gives the layout of the denormal form (<see cref="LinearW4A16Nibble"/>): vector i
    /// scaled by 2^(E − 4·(i mod 4)) and the offset sums −8·2^(E − 149)·Σx, E = <see cref="DenormalExponent"/>.</remarks>
    public static (float[] Buffer, int Offset, int Stride) Permute(float[] x, int rows, int k, bool split, bool denormal = false)
    {
        int xs = Stride(k);
        var slot = denormal ? (split ? (t_denormalSplitSlot ??= new()) : (t_denormalSlot ??= new()))
                            : split ? (t_splitSlot ??= new()) : (t_slot ??= new());
        var (buffer, offset, held) = slot.Acquire(x, rows, k, rows * xs + 16);
        if (held) return (buffer, offset, xs);
        fixed (float* src = x, dst = buffer)
            for (int m = 0; m < rows; m++) Row(src + (long)m * k, k, dst + offset + (long)m * xs, split, denormal);
        slot.Hold(x, rows, k);
        return (buffer, offset, xs);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row(float* x, int k, float* d, bool split, bool denormal)
    {
        float* stage = stackalloc float[128];
        var upper = Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1).AsSingle();
        // The offset the chains start from: −1.5·Σx (fold form), −8·2^(E − 149)·Σx (denormal form); both exact scalings but the first.
        var minus = Vector512.Create(denormal ? -8f * MathF.ScaleB(1f, DenormalExponent - 149) : -1.5f);
        // Denormal form: vector i is scaled by 2^(E − 4·(i mod 4)), four factors made once per call.
        Span<Vector512<float>> scale = stackalloc Vector512<float>[4];
        for (int j = 0; j < 4; j++) scale[j] = Vector512.Create(MathF.ScaleB(1f, DenormalExponent - 4 * j));
        int pairs = (k + 127) / 128;
        for (int p = 0; p < pairs; p++, d += LinearW4A16Nibble.PairFloats)
        {
            float* s = x + 128L * p;
            if (128 * p + 128 > k)
            {
                new Span<float>(stage, 128).Clear();
                new ReadOnlySpan<float>(s, k - 128 * p).CopyTo(new Span<float>(stage, 128));
                s = stage;
            }
            for (int h = 0; h < 2; h++)
            {
                // Columns 32h..32h+31 of the pair's first and second block.
                var a0 = Vector512.Load(s + 32 * h); var a1 = Vector512.Load(s + 32 * h + 16);
                var b0 = Vector512.Load(s + 64 + 32 * h); var b1 = Vector512.Load(s + 64 + 32 * h + 16);
                for (int t = 0; t < 4; t++)
                {
                    var idx = Vector512.Create(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28) + Vector512.Create(t);
                    var lo = Avx512F.PermuteVar16x32x2(a0, idx, a1);
                    var hi = Avx512F.PermuteVar16x32x2(b0, idx, b1);
                    Vector512.ConditionalSelect(upper, hi, lo).Store(d + 16 * (2 * t + h));
                }
            }
            var even = (Vector512.Load(d) + Vector512.Load(d + 32)) + (Vector512.Load(d + 64) + Vector512.Load(d + 96));
            var odd = (Vector512.Load(d + 16) + Vector512.Load(d + 48)) + (Vector512.Load(d + 80) + Vector512.Load(d + 112));
            if (split)
            {
                (minus * even).Store(d + 128);
                (minus * odd).Store(d + 144);
            }
            else
            {
                (minus * (even + odd)).Store(d + 128);
                Vector512<float>.Zero.Store(d + 144);
            }
            if (denormal)
                for (int i = 0; i < 8; i++)
                    (Vector512.Load(d + 16 * i) * scale[i % 4]).Store(d + 16 * i);
        }
    }
}
