using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Model;

namespace QSpec.Core.Tests.Inference;

/// <summary>The four modes over one weight set: W4A16 against its dequantized FP32 twin, draft modes against the scalar path.</summary>
public class ExecutionModeTests
{
    private const double W4A16RelativeTolerance = 1e-4;  // max |Δlogit| / max |logit|
    private const double PathRelativeTolerance = 1e-4;   // SIMD vs scalar float ops around bit-exact integer kernels
    private static readonly int[] Tokens = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315];

    /// <summary>stories260K whose float32 weights are the dequantized INT4 weights.</summary>
    private static LlamaWeights DequantizedTwin()
    {
        return QSpec.Quantization.ModelQuantizer.Quantize(TestData.Stories260K,
            new QSpec.Quantization.QuantizerOptions { Method = QSpec.Quantization.QuantizationMethod.Rtn, GroupSize = 0, ClipSearch = false, Rotate = false }, null)
            .WithDequantizedDense();
    }

    [Fact]
    public void W4A16EqualsDequantizedFp32Forward()
    {
        using var model = LlamaModel.Create(DequantizedTwin());
        using var s = model.CreateSession();
        var fp32 = s.Forward(Tokens, 0, ExecutionMode.Fp32);
        var w4a16 = s.Forward(Tokens, 0, ExecutionMode.W4A16);
        Assert.True(RelativeError(w4a16, fp32) < W4A16RelativeTolerance, $"relative error {RelativeError(w4a16, fp32)}");
    }

    [Theory]
    [InlineData(ExecutionMode.W4A4)]
    [InlineData(ExecutionMode.W4A8)]
    public void DraftModesMatchTheScalarPath(ExecutionMode mode)
    {
        using var fast = LlamaModel.Create(TestData.Stories260KInt4);
        using var scalarBackend = new CpuBackend(new CpuBackendOptions { Path = CpuKernelPath.Scalar });
        using var scalar = LlamaModel.Create(TestData.Stories260KInt4, scalarBackend);
        using var a = fast.CreateSession();
        using var b = scalar.CreateSession();
        var x = a.Forward(Tokens, 0, mode);
        var y = b.Forward(Tokens, 0, mode);
        Assert.True(RelativeError(x, y) < PathRelativeTolerance, $"relative error {RelativeError(x, y)}");
        // And the draft is a different function from the verifier.
        Assert.True(RelativeError(x, a.Forward(Tokens, 0, ExecutionMode.W4A16)) > 1e-3);
    }

    [Theory]
    [InlineData(ExecutionMode.W4A16)]
    [InlineData(ExecutionMode.W4A4)]
    [InlineData(ExecutionMode.W4A8)]
    public void MTokenForwardEqualsSingleTokenForwardsBitwise(ExecutionMode mode)
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var batched = model.CreateSession();
        using var single = model.CreateSession();
        var all = batched.Forward(Tokens, 0, mode);
        int v = model.Config.VocabSize;
        for (int i = 0; i < Tokens.Length; i++)
            Assert.Equal(all.AsSpan(i * v, v).ToArray(), single.Forward([Tokens[i]], i, mode));
    }

    [Theory]
    [InlineData(KvPrecision.Float32)]
    [InlineData(KvPrecision.Float16)]
    public void TruncateThenReforwardEqualsAFreshSession(KvPrecision precision)
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        var options = new SessionOptions { KvPrecision = precision };
        using var reused = model.CreateSession(options);
        using var fresh = model.CreateSession(options);
        reused.Forward(Tokens[..5], 0, ExecutionMode.W4A16);     // the kept prefix
        reused.Forward(Tokens[5..], 5, ExecutionMode.W4A4);      // draft K/V in every later slot
        reused.Cache.Truncate(5);
        var again = reused.Forward(Tokens[5..], 5, ExecutionMode.W4A16);
        var expected = fresh.Forward(Tokens, 0, ExecutionMode.W4A16);
        int v = model.Config.VocabSize;
        Assert.Equal(expected.AsSpan(5 * v).ToArray(), again);
    }

    [Fact]
    public void Fp16CacheStaysCloseToFp32Cache()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var a = model.CreateSession();
        using var b = model.CreateSession(new SessionOptions { KvPrecision = KvPrecision.Float16 });
        var x = a.Forward(Tokens, 0, ExecutionMode.W4A16);
        var y = b.Forward(Tokens, 0, ExecutionMode.W4A16);
        Assert.True(RelativeError(y, x) < 1e-2, $"relative error {RelativeError(y, x)}");
        Assert.Equal(b.Cache.SizeInBytes * 2, a.Cache.SizeInBytes);
    }

    [Fact]
    public void MissingWeightsForAModeThrowArgumentException()
    {
        using var fp32 = LlamaModel.Create(TestData.Stories260K);
        using var s = fp32.CreateSession();
        var e = Assert.Throws<ArgumentException>(() => s.Forward([1], 0, ExecutionMode.W4A4));
        Assert.Equal("mode", e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Forward([1], 0, (ExecutionMode)42));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Forward([600], 0, ExecutionMode.Fp32));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Forward([1], 3, ExecutionMode.Fp32));
    }

    private static double RelativeError(float[] actual, float[] expected)
    {
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(actual[i] - expected[i]));
            maxAbs = Math.Max(maxAbs, Math.Abs(expected[i]));
        }
        return maxDiff / maxAbs;
    }
}
