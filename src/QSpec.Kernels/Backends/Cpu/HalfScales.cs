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
/// .NET 10 exposes no vcvtph2ps, so <see cref="ToSingle(Vector256{ushort})"/> converts with integer ops: for |h| (15 bits) the fp32 bits
/// |h| ≪ 13 hold the fp16 mantissa and exponent, and multiplying by 2^112 rebases the exponent (15 → 127). That product
/// is exact for normal and subnormal fp16 values alike (a subnormal's bits land on an fp32 subnormal, which the
/// multiplication normalises); the sign bit moves to bit 31 and survives the multiplication. Infinities and NaN are not scales and are never stored:
/// <see cref="AreExact"/> rejects them, and such a matrix keeps fp32 scales.
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

    /// <summary>Bits kept after the sign-extending shift: the sign (31) and the fp16 exponent and mantissa (27..13).</summary>
    private const uint SignAndMagnitude = 0x8FFFE000;

    /// <summary>Scalar reference of <see cref="ToSingle(Vector256{ushort})"/>: the same integer steps on one value.</summary>
    public static float ToSingle(ushort h)
    {
        uint bits = ((uint)(int)(short)h << 13) & SignAndMagnitude;
        return BitConverter.UInt32BitsToSingle(bits) * BitConverter.UInt32BitsToSingle(Rebase);
    }

    /// <summary>
    /// 16 fp16 bit patterns (finite) to 16 floats, exactly, in 4 ops: sign-extend to 32 bits (vpmovsxwd), shift left 13
    /// (the sign lands on bit 31, its copies on 30..28, |h| on 27..13), keep bits 31 and 27..13, multiply by 2^112. The
    /// multiplication by a positive power of two keeps the sign, so no separate sign merge is needed (−0 stays −0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector256<ushort> h)
    {
        var bits = Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(h.AsInt16()).AsUInt32(), 13) & Vector512.Create(SignAndMagnitude);
        return bits.AsSingle() * Vector512.Create(Rebase).AsSingle();
    }

    /// <summary>8 fp16 bit patterns (finite) to 8 floats, exactly: the same 4 steps in 256 bits (AVX2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector128<ushort> h)
    {
        var bits = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(h.AsInt16()).AsUInt32(), 13) & Vector256.Create(SignAndMagnitude);
        return bits.AsSingle() * Vector256.Create(Rebase).AsSingle();
    }

    /// <summary>The 4 fp16 bit patterns (finite) in the low 64 bits of <paramref name="h"/> to 4 floats, exactly (SSE4.1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToSingleLow4(Vector128<ushort> h)
    {
        var bits = Sse2.ShiftLeftLogical(Sse41.ConvertToVector128Int32(h.AsInt16()).AsUInt32(), 13) & Vector128.Create(SignAndMagnitude);
        return bits.AsSingle() * Vector128.Create(Rebase).AsSingle();
    }
}
