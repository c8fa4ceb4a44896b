using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// The activations of <see cref="LinearW4A16Avx2"/>, permuted once per call into the order its in-place nibble
/// dequantization produces the weights, plus the per-lane offset sums that cancel the dequantized weights' constant 1.5.
/// </summary>
/// <remarks>
/// <para><b>Layout.</b> Per row, per 64-column block b (32 packed bytes, one ymm of 8 dwords), <see cref="LinearW4A16Avx2.BlockFloats"/>
/// floats: vector i (0 ≤ i &lt; 8) at 8·i holds, in lane l, x[64b + 4·l + i/2 + 32·(i mod 2)], the column whose weight is
/// nibble i of dword l of the block (byte 4l + i/2; low nibble: column 4l + i/2, high: 32 + 4l + i/2). So the even
/// vectors hold columns 0..31 of the block and the odd ones 32..63. Then −1.5·Σ of the even vectors at 64 and of the
/// odd ones at 72 (split, G = 32: the halves are separate scale groups), or −1.5·Σ of all eight at 64
/// and zeros at 72 (wider groups). Each sum is taken in one fixed order: even = (v0 + v2) + (v4 + v6), odd = (v1 + v3) +
/// (v5 + v7), all = even + odd. Columns at or past K are zero.</para>
/// <para><b>Denormal form</b> (<see cref="DenormalNibbles"/>): vector i is scaled by 2^(E − 4·(i mod 4)) and each −1.5
/// becomes −8·2^(E − 149), E = <see cref="LinearW4A16NibbleActivations.DenormalExponent"/>; the sums are the same sums
/// of the unscaled vectors, in the same order, so both are exact power-of-two scalings of the shift form's values
/// (while |x| &lt; 2^48 and the sums are not below 2^−60).</para>
/// <para>The buffer is per calling thread and layout (split or not), pinned, and 32-byte aligned at the returned offset
/// (64-byte in practice: the offset rounds to a cache line, so a block's 320 bytes span 5 lines).</para>
/// </remarks>
internal static unsafe class LinearW4A16Avx2Activations
{
    // One slot per calling thread and layout (see PermutedActivationSlot: a fused op's matrices may differ in group size).
    [ThreadStatic] private static PermutedActivationSlot? t_slot, t_splitSlot, t_denormalSlot, t_denormalSplitSlot;

    /// <summary>Row stride (floats) of the permuted activations for K = <paramref name="k"/>.</summary>
    public static int Stride(int k) => (k + 63) / 64 * LinearW4A16Avx2.BlockFloats;

    /// <summary>Permutes X[M, K] (row-major, rows·k floats) for a matrix whose even and odd nibbles are separate groups
    /// (<paramref name="split"/>, G = 32) or not, in the layout of the shift form or of the <paramref name="denormal"/> form.</summary>
    /// <remarks>Within one fused op's capture, X is permuted once for all its calls (<see cref="PermutedActivationSlot"/>).</remarks>
    public static (float[] Buffer, int Offset, int Stride) Permute(float[] x, int rows, int k, bool split, bool denormal = false)
    {
        int xs = Stride(k);
        var slot = denormal ? (split ? (t_denormalSplitSlot ??= new()) : (t_denormalSlot ??= new()))
                            : (split ? (t_splitSlot ??= new()) : (t_slot ??= new()));
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
        float* stage = stackalloc float[64];
        var minus = Vector256.Create(denormal ? -8f * MathF.ScaleB(1f, LinearW4A16NibbleActivations.DenormalExponent - 149) : -1.5f);
        // Denormal form: vector i is scaled by 2^(E − 4·(i mod 4)) after the sums are taken (four factors per row).
        var scale = stackalloc Vector256<float>[4];
        for (int j = 0; j < 4; j++) scale[j] = Vector256.Create(MathF.ScaleB(1f, LinearW4A16NibbleActivations.DenormalExponent - 4 * j));
        // Lane l of vector t reads column 4l + t of a 32-column half: a 4 x 8 transpose done as 4 gathers per half
        // (once per call and row: about 1 % of an M = 1 product's time).
        var idx = Vector256.Create(0, 4, 8, 12, 16, 20, 24, 28);
        int blocks = (k + 63) / 64;
        for (int b = 0; b < blocks; b++, d += LinearW4A16Avx2.BlockFloats)
        {
            float* s = x + 64L * b;
            if (64 * b + 64 > k)
            {
                new Span<float>(stage, 64).Clear();
                new ReadOnlySpan<float>(s, k - 64 * b).CopyTo(new Span<float>(stage, 64));
                s = stage;
            }
            for (int i = 0; i < 8; i++)
                Avx2.GatherVector256(s + 32 * (i & 1) + (i >> 1), idx, 4).Store(d + 8 * i);
            var even = (Vector256.Load(d) + Vector256.Load(d + 16)) + (Vector256.Load(d + 32) + Vector256.Load(d + 48));
            var odd = (Vector256.Load(d + 8) + Vector256.Load(d + 24)) + (Vector256.Load(d + 40) + Vector256.Load(d + 56));
            if (split)
            {
                (minus * even).Store(d + 64);
                (minus * odd).Store(d + 72);
            }
            else
            {
                (minus * (even + odd)).Store(d + 64);
                Vector256<float>.Zero.Store(d + 72);
            }
            if (denormal)
                for (int i = 0; i < 8; i++) (Vector256.Load(d + 8 * i) * scale[i & 3]).Store(d + 8 * i);
        }
    }
}
