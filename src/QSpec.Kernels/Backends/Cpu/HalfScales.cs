using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// INT4 scales held as IEEE binary16 bits by the CPU kernels when that loses nothing: every scale of the matrix is an
/// fp16 value (GGUF Q4_0 files, and scales rounded to fp16 by the quantizer). At G = 32 this cuts the bytes a weight
/// costs from 0.625 (4-bit value + fp32 scale / 32) to 0.5625, Q4_0's size, which is what bounds decode on a CPU.
/// </summary>
/// <remarks>
/// .NET 10 exposes no vcvtph2ps, so <see cref="ToSingle(Vector256{ushort})"/> converts with integer ops: sign-extending h to
/// 32 bits and shifting it left by 13 puts the fp16 mantissa and exponent at fp32 bits 13..27 and copies of the sign at
/// bits 28..31; masking bits 28..30 away leaves the fp32 bits of ±|h| · 2^-112, and multiplying by 2^112 rebases the exponent
/// (15 → 127). That product is exact for normal and subnormal fp16 values alike (a subnormal's bits land on an fp32
/// subnormal, which the multiplication normalises), and a multiplication keeps the sign, so −0 stays −0. Infinities and
/// NaN are not scales and are never stored: <see cref="AreExact"/> rejects them, and such a matrix keeps fp32 scales.
/// </remarks>
internal static class HalfScales
{
    /// <summary>2^112 as fp32 bits (exponent 239).</summary>
    private const uint Rebase = 0x77800000;

    /// <summary>True when every scale round-trips through <see cref="Half"/> bit for bit and is finite.</summary>
    public static bool AreExact(ReadOnlySpan<float> scales)
    {
        foreach (float s in scales)
            if (!float.IsFinite(s) || BitConverter.SingleToUInt32Bits((float)(Half)s) != BitConverter.SingleToUInt32Bits(s))
                return false;
        return true;
    }

    /// <summary>The fp16 bits of each scale; callers check <see cref="AreExact"/> first.</summary>
    public static ushort[] ToBits(ReadOnlySpan<float> scales, int padding = 0)
    {
        var bits = GC.AllocateArray<ushort>(scales.Length + padding, pinned: true);
        for (int i = 0; i < scales.Length; i++) bits[i] = BitConverter.HalfToUInt16Bits((Half)scales[i]);
        return bits;
    }

    /// <summary>The bits kept of (int)(short)h ≪ 13: the sign (bit 31) and |h| (bits 13..27).</summary>
    private const uint Keep = 0x8FFFE000;

    /// <summary>Scalar reference of <see cref="ToSingle(Vector256{ushort})"/>: the same integer steps on one value.</summary>
    public static float ToSingle(ushort h)
        => BitConverter.UInt32BitsToSingle((uint)((short)h << 13) & Keep) * BitConverter.UInt32BitsToSingle(Rebase);

    /// <summary>
    /// 16 fp16 bit patterns (finite) to 16 floats, exactly: vpmovsxwd (which takes its operand from memory), a shift, a mask
    /// and a multiply, against six instructions when the sign is moved separately.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector256<ushort> h)
    {
        var bits = Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(h.AsInt16()).AsUInt32(), 13) & Vector512.Create(Keep);
        return bits.AsSingle() * Vector512.Create(Rebase).AsSingle();
    }
}
