using ILGPU;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// IEEE binary16 conversions on raw bits, used for the FP16 KV cache on every accelerator.
/// ILGPU's own Half conversion on the CPU accelerator truncates (0.3f becomes 0.2998 instead of 0.30005), so the
/// cache stores binary16 bits in <see cref="ushort"/> and converts here with round-to-nearest-even, which equals
/// <see cref="System.Half"/> and CUDA's cvt.rn.f16.f32 bit for bit.
/// </summary>
internal static class HalfBits
{
    /// <summary>float → binary16 bits, round to nearest even; overflow gives ±inf, NaN stays NaN.</summary>
    public static ushort FromFloat(float value)
    {
        uint x = Interop.FloatAsInt(value);
        uint sign = (x >> 16) & 0x8000u;
        uint ax = x & 0x7FFFFFFFu;
        if (ax >= 0x7F800000u) return (ushort)(sign | (ax > 0x7F800000u ? 0x7E00u : 0x7C00u));
        if (ax >= 0x47800000u) return (ushort)(sign | 0x7C00u); // ≥ 65536: beyond the rounding range of 65504
        uint h, rem, halfway;
        if (ax >= 0x38800000u)
        {
            // Normal half: rebias the exponent (127 → 15) and drop 13 mantissa bits; a carry may reach inf (correct).
            h = (ax - 0x38000000u) >> 13;
            rem = ax & 0x1FFFu;
            halfway = 0x1000u;
        }
        else
        {
            // Subnormal half: value / 2^-24 rounded; below 2^-25 everything rounds to zero.
            int e = (int)(ax >> 23);
            if (e < 102) return (ushort)sign;
            uint mant = (ax & 0x7FFFFFu) | 0x800000u;
            int shift = 126 - e;
            h = mant >> shift;
            rem = mant & ((1u << shift) - 1u);
            halfway = 1u << (shift - 1);
        }
        if (rem > halfway || (rem == halfway && (h & 1u) != 0)) h++;
        return (ushort)(sign | h);
    }

    /// <summary>binary16 bits → float (exact).</summary>
    public static float ToFloat(ushort bits)
    {
        uint sign = (uint)(bits & 0x8000) << 16;
        uint e = (uint)(bits >> 10) & 0x1Fu;
        uint m = bits & 0x3FFu;
        if (e == 0x1F) return Interop.IntAsFloat(sign | 0x7F800000u | (m << 13));
        if (e != 0) return Interop.IntAsFloat(sign | ((e + 112u) << 23) | (m << 13));
        float sub = m * 5.9604645e-8f; // m · 2^-24, exact
        return sign != 0 ? -sub : sub;
    }
}
