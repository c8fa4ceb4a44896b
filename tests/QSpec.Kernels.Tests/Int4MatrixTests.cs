using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Tests;

/// <summary>The INT4 format: nibble order, sizes, groups, quantizer round trip and argument checks.</summary>
public sealed class Int4MatrixTests
{
    [Fact]
    public void Nibbles_FollowTheBlockOrder()
    {
        var m = Int4Matrix.CreateZero(2, 130, 0);
        m.SetValue(1, 5, -8);   // block 0, byte 5, low nibble: u = 0
        m.SetValue(1, 37, 7);   // block 0, byte 5, high nibble: u = 15
        m.SetValue(1, 64 + 3, 1); // block 1, byte 3, low nibble: u = 9
        m.SetValue(1, 128 + 33, 0); // padding block stays 8
        int row = m.RowBytes;
        Assert.Equal(0xF0, m.Data[row + 5]);
        Assert.Equal(0x89, m.Data[row + 32 + 3]);
        Assert.Equal(0x88, m.Data[row + 64 + 1]);
        Assert.All(m.Data.AsSpan(0, row).ToArray(), b => Assert.Equal(0x88, b));
        Assert.Equal(-8, m.GetValue(1, 5));
        Assert.Equal(7, m.GetValue(1, 37));
        Assert.Equal(1, m.GetValue(1, 67));
        Assert.Equal((5, false), Int4Matrix.Locate(5));
        Assert.Equal((32 + 31, true), Int4Matrix.Locate(127));
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(32, 6)]
    [InlineData(64, 3)]
    [InlineData(128, 2)]
    public void Sizes_ForK172(int groupSize, int groups)
    {
        var m = Int4Matrix.CreateZero(3, 172, groupSize);
        Assert.Equal(192, m.PaddedColumns);
        Assert.Equal(96, m.RowBytes);
        Assert.Equal(3 * 96, m.Data.Length);
        Assert.Equal(groups, m.GroupCount);
        Assert.Equal(3 * groups, m.Scales.Length);
        Assert.Equal(groupSize == 0 ? 172 : groupSize, m.EffectiveGroupSize);
        Assert.Equal(3 * 96 + 3 * groups * 4L, m.SizeInBytes);
    }

    [Theory]
    [InlineData(1, 1, 0)]
    [InlineData(17, 172, 32)]
    [InlineData(5, 172, 64)]
    [InlineData(3, 1025, 128)]
    [InlineData(4, 64, 0)]
    public void RoundTrip_ErrorIsAtMostHalfAScale(int rows, int columns, int groupSize)
    {
        var w = TestData.Floats(rows * columns, rows * columns, 3f);
        var m = Int4Matrix.Quantize(w, rows, columns, groupSize);
        var d = m.Dequantize();
        for (int n = 0; n < rows; n++)
            for (int k = 0; k < columns; k++)
            {
                float s = m.GetScale(n, k), e = MathF.Abs(d[n * columns + k] - w[n * columns + k]);
                Assert.True(e <= s / 2 * (1 + 1e-5f), $"w[{n},{k}] = {w[n * columns + k]}, error {e} > scale/2 = {s / 2}.");
            }
    }

    [Fact]
    public void RemainderGroup_HasItsOwnScale()
    {
        var w = new float[172];
        for (int k = 0; k < 172; k++) w[k] = k < 128 ? 7f : 0.7f;
        var m = Int4Matrix.Quantize(w, 1, 172, 64);
        Assert.Equal([1f, 1f, 0.1f], m.Scales.Select(s => MathF.Round(s, 5)).ToArray());
        Assert.Equal(7, m.GetValue(0, 171));
    }

    [Fact]
    public void ZeroGroup_GetsZeroScaleAndZeroValues()
    {
        var w = new float[64];
        w[40] = -3.5f;
        var m = Int4Matrix.Quantize(w, 1, 64, 32);
        Assert.Equal(0f, m.Scales[0]);
        Assert.Equal(0.5f, m.Scales[1]);
        Assert.Equal(0, m.GetValue(0, 3));
        Assert.Equal(-7, m.GetValue(0, 40));
    }

    [Theory]
    [InlineData(16)]
    [InlineData(48)]
    [InlineData(256)]
    [InlineData(-1)]
    public void InvalidGroupSize_Throws(int groupSize)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Int4Matrix.CreateZero(1, 64, groupSize));
        Assert.Equal("groupSize", e.ParamName);
    }

    [Fact]
    public void WrongBufferSizes_Throw()
    {
        Assert.Throws<ArgumentException>("data", () => new Int4Matrix(2, 172, 64, new byte[2 * 96 - 1], new float[6]));
        Assert.Throws<ArgumentException>("scales", () => new Int4Matrix(2, 172, 64, new byte[2 * 96], new float[5]));
        Assert.Throws<ArgumentOutOfRangeException>("value", () => Int4Matrix.CreateZero(1, 8, 0).SetValue(0, 0, 8));
    }
}
