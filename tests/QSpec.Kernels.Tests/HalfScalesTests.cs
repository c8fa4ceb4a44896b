using QSpec.Kernels.Backends.Cpu;
using System.Runtime.Intrinsics;

namespace QSpec.Kernels.Tests;

/// <summary>The fp16 scale storage of the CPU kernels: exact conversion of every finite fp16 value, and the lossless check.</summary>
public sealed class HalfScalesTests
{
    [Fact]
    public void ToSingle_Scalar_EqualsHalfConversion_ForEveryFiniteValue()
    {
        for (int h = 0; h < 65536; h++)
        {
            var half = BitConverter.UInt16BitsToHalf((ushort)h);
            if (!Half.IsFinite(half)) continue;
            Assert.Equal(BitConverter.SingleToUInt32Bits((float)half), BitConverter.SingleToUInt32Bits(HalfScales.ToSingle((ushort)h)));
        }
    }

    [Fact]
    public void ToSingle_Vector_EqualsScalar_ForEveryFiniteValue()
    {
        if (!CpuPaths.HasAvx512) return;
        var lanes = new ushort[16];
        for (int h0 = 0; h0 < 65536; h0 += 16)
        {
            for (int l = 0; l < 16; l++) lanes[l] = (ushort)(h0 + l);
            var v = HalfScales.ToSingle(Vector256.Create(lanes));
            for (int l = 0; l < 16; l++)
            {
                if (!Half.IsFinite(BitConverter.UInt16BitsToHalf(lanes[l]))) continue;
                Assert.Equal(BitConverter.SingleToUInt32Bits(HalfScales.ToSingle(lanes[l])), BitConverter.SingleToUInt32Bits(v.GetElement(l)));
            }
        }
    }

    [Fact]
    public void ToSingle_Avx2Vectors_EqualScalar_ForEveryFiniteValue()
    {
        if (!CpuPaths.HasAvx2) return;
        var lanes = new ushort[8];
        for (int h0 = 0; h0 < 65536; h0 += 8)
        {
            for (int l = 0; l < 8; l++) lanes[l] = (ushort)(h0 + l);
            var v8 = HalfScales.ToSingle(Vector128.Create(lanes));
            var v4 = HalfScales.ToSingleLow4(Vector128.Create(lanes));
            for (int l = 0; l < 8; l++)
            {
                if (!Half.IsFinite(BitConverter.UInt16BitsToHalf(lanes[l]))) continue;
                uint expected = BitConverter.SingleToUInt32Bits(HalfScales.ToSingle(lanes[l]));
                Assert.Equal(expected, BitConverter.SingleToUInt32Bits(v8.GetElement(l)));
                if (l < 4) Assert.Equal(expected, BitConverter.SingleToUInt32Bits(v4.GetElement(l)));
            }
        }
    }

    [Theory]
    [InlineData(0.5f, true)]
    [InlineData(-0f, true)]
    [InlineData(6e-8f, false)]        // below the smallest fp16 subnormal's precision: rounds
    [InlineData(5.9604645e-8f, true)] // 2^-24, the smallest fp16 subnormal
    [InlineData(0.1f, false)]         // not an fp16 value
    [InlineData(65504f, true)]        // the largest fp16 value
    [InlineData(70000f, false)]       // overflows to infinity
    [InlineData(float.NaN, false)]
    public void AreExact_AcceptsOnlyFiniteHalfValues(float scale, bool exact)
        => Assert.Equal(exact, HalfScales.AreExact([1f, scale, 2f]));
}
