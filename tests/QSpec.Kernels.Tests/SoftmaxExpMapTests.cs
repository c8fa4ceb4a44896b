using System.Runtime.Intrinsics;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Kernels.Tests;

/// <summary>
/// The attention's softmax weight (<see cref="SoftmaxExpMap"/>): e^x as <see cref="Vector256.Exp(Vector256{float})"/> at
/// and above −64·ln 2, exactly 0 below it, and never a denormal for any score gap from 0 to −200 (the range where e^x
/// itself runs into the denormals near −87.3 and underflows to 0 near −103.9).
/// </summary>
public sealed class SoftmaxExpMapTests
{
    [Fact]
    public void Weights_AreExpAboveTheFlushPointAndZeroBelow()
    {
        for (int i = 0; i <= 200_000; i++)
        {
            float x = -i / 1000f;
            float got = SoftmaxExpMap.Apply(Vector256.Create(x), default).GetElement(0);
            if (x >= SoftmaxExpMap.FlushBelow) Assert.Equal(Vector256.Exp(Vector256.Create(x)).GetElement(0), got);
            else Assert.Equal(0f, got);
            Assert.False(float.IsSubnormal(got), $"e^{x} gave the denormal {got}");
        }
    }

    [Fact]
    public void FlushPoint_IsWhereTheWeightFallsUnderTwoToTheMinus64()
    {
        Assert.True(MathF.Exp(SoftmaxExpMap.FlushBelow) >= MathF.ScaleB(1f, -64) * 0.999f);
        Assert.True(MathF.Exp(SoftmaxExpMap.FlushBelow - 0.01f) < MathF.ScaleB(1f, -64));
        Assert.Equal(0f, SoftmaxExpMap.Apply(Vector256.Create(float.NegativeInfinity), default).GetElement(0));
        Assert.Equal(Vector256.Exp(Vector256.Create(0f)).GetElement(0), SoftmaxExpMap.Apply(Vector256.Create(0f), default).GetElement(0)); // 1 + 2^-23 from .NET 10's Exp
    }
}
