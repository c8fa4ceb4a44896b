using QSpec.Kernels.Backends.Ilgpu;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>The FP16 cache conversions equal System.Half (round to nearest even) bit for bit.</summary>
public sealed class HalfBitsTests
{
    [Fact]
    public void ToFloat_IsExact_ForAllHalves()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            float actual = HalfBits.ToFloat((ushort)bits);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"bits {bits:X4}");
            else Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
        }
    }

    [Fact]
    public void FromFloat_RoundsLikeSystemHalf()
    {
        var rng = new Random(31);
        var special = new[] { 0f, -0f, 65504f, 65519.99f, 65520f, -65520f, 1e-8f, 2.9802322e-8f, 2.9802326e-8f, 5.9604645e-8f,
                              6.1035156e-5f, 6.1028e-5f, float.Epsilon, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity, 0.3f };
        foreach (float f in special) Check(f);
        for (int i = 0; i < 200_000; i++)
        {
            // Random bit patterns around the half range (exponents 2^-30 .. 2^17), both signs.
            uint bits = (uint)rng.Next(0x30000000, 0x48000000) | (rng.Next(2) == 0 ? 0u : 0x80000000u);
            Check(BitConverter.UInt32BitsToSingle(bits));
        }
        Assert.True(float.IsNaN(HalfBits.ToFloat(HalfBits.FromFloat(float.NaN))));
    }

    private static void Check(float f) =>
        Assert.True(BitConverter.HalfToUInt16Bits((Half)f) == HalfBits.FromFloat(f), $"{f:R}: expected {BitConverter.HalfToUInt16Bits((Half)f):X4}, got {HalfBits.FromFloat(f):X4}");
}
