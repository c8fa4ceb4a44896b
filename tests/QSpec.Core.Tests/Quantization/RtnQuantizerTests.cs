using QSpec.Kernels.Formats;
using QSpec.Quantization;

namespace QSpec.Core.Tests.Quantization;

public class RtnQuantizerTests
{
    [Theory]
    [InlineData(1, 17, 0)]
    [InlineData(5, 172, 64)]
    [InlineData(3, 1025, 32)]
    [InlineData(4, 64, 128)]
    public void SingleRatioEqualsInt4MatrixReference(int rows, int cols, int group)
    {
        var w = SyntheticModel.Gaussian(new Random(rows * 31 + cols), rows * cols);
        var a = RtnQuantizer.Quantize(w, rows, cols, group, [1f]);
        var b = Int4Matrix.Quantize(w, rows, cols, group);
        Assert.Equal(b.Data, a.Data);
        Assert.Equal(b.Scales, a.Scales);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(32)]
    [InlineData(64)]
    public void ClipSearchNeverIncreasesAnyGroupError(int group)
    {
        int rows = 9, cols = 172;
        var rng = new Random(group + 7);
        var w = SyntheticModel.Gaussian(rng, rows * cols);
        for (int i = 0; i < w.Length; i += 37) w[i] *= 6f; // outliers make clipping worthwhile
        var ratios = new QuantizerOptions { ClipSearch = true }.ClipRatios();
        var plain = Int4Matrix.Quantize(w, rows, cols, group).Dequantize();
        var clipped = RtnQuantizer.Quantize(w, rows, cols, group, ratios).Dequantize();
        int g = group == 0 ? cols : group;
        bool anyBetter = false;
        for (int r = 0; r < rows; r++)
            for (int s = 0; s < cols; s += g)
            {
                double ep = 0, ec = 0;
                for (int k = s; k < Math.Min(cols, s + g); k++)
                {
                    ep += Math.Pow(w[r * cols + k] - plain[r * cols + k], 2);
                    ec += Math.Pow(w[r * cols + k] - clipped[r * cols + k], 2);
                }
                Assert.True(ec <= ep * (1 + 1e-12), $"row {r} group at {s}: clipped {ec} > plain {ep}");
                anyBetter |= ec < ep * 0.99;
            }
        Assert.True(anyBetter, "clip search never found a better ratio on heavy-tailed weights");
    }

    [Fact]
    public void ClipRatioGridIsDocumentedDefault()
    {
        var r = new QuantizerOptions { ClipSearch = true }.ClipRatios();
        Assert.Equal(11, r.Length);
        Assert.Equal(1f, r[0]);
        Assert.Equal(0.5f, r[^1], 1e-6f);
        Assert.Equal([1f], new QuantizerOptions { ClipSearch = false }.ClipRatios());
        Assert.True(new QuantizerOptions().ClipSearch);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(-1)]
    [InlineData(96)]
    public void UnsupportedGroupSizeThrowsWithValue(int group)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => new QuantizerOptions { GroupSize = group }.Validate());
        Assert.Contains(group.ToString(), ex.Message);
        Assert.ThrowsAny<ArgumentException>(() => RtnQuantizer.Quantize(new float[64], 1, 64, group, [1f]));
    }

    [Fact]
    public void WrongShapeAndBadRatioThrow()
    {
        Assert.Throws<ArgumentException>(() => RtnQuantizer.Quantize(new float[10], 2, 64, 0, [1f, 0.9f]));
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => RtnQuantizer.Quantize(new float[64], 1, 64, 0, [1f, 1.5f]));
        Assert.Contains("1.5", ex.Message);
    }
}
