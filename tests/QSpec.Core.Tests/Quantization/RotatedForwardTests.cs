using QSpec.Inference;
using QSpec.Quantization;

namespace QSpec.Core.Tests.Quantization;

/// <summary>End to end: the rotated float32 stories260K computes the same logits as the original.</summary>
public class RotatedForwardTests
{
    /// <summary>Max |Δlogit|: float32 rounding of the rotation through 5 layers (logits are O(10)).</summary>
    private const float LogitTolerance = 1e-4f;

    [Theory]
    [InlineData(0)]
    [InlineData(12345)]
    public void RotatedModelGivesTheSameLogits(int seed)
    {
        var original = TestData.Stories260K;
        var rotated = ModelRotation.Rotate(original, seed);
        Assert.Equal(4, rotated.Quantization!.FfnHadamardBlock);
        int[] tokens = [TestData.Bos, .. TestData.Expected.Ids[..40]];
        using var m1 = LlamaModel.Create(original);
        using var m2 = LlamaModel.Create(rotated);
        using var s1 = m1.CreateSession();
        using var s2 = m2.CreateSession();
        var a = s1.Forward(tokens, 0, ExecutionMode.Fp32);
        var b = s2.Forward(tokens, 0, ExecutionMode.Fp32);
        float maxDiff = 0;
        for (int i = 0; i < a.Length; i++) maxDiff = MathF.Max(maxDiff, MathF.Abs(a[i] - b[i]));
        Assert.True(maxDiff <= LogitTolerance, $"max |logit difference| = {maxDiff}");
        // The rotation must actually change the weights (otherwise the test proves nothing).
        Assert.NotEqual(original.Layers[0].Wq.Dense, rotated.Layers[0].Wq.Dense);
    }

    [Fact]
    public void DroppingTheOnlineHadamardBreaksEquivalence()
    {
        // Guards the contract with the runtime: W2 carries H_b, so the forward must apply H_b to the w2 input.
        var rotated = ModelRotation.Rotate(TestData.Stories260K);
        var withoutOnline = new QSpec.Model.LlamaWeights(rotated.Config, rotated.TokenEmbedding, rotated.Layers, rotated.FinalNorm,
            rotated.Classifier, rotated.Quantization! with { FfnHadamardBlock = 0 });
        int[] tokens = [TestData.Bos, .. TestData.Expected.Ids[..10]];
        using var m1 = LlamaModel.Create(TestData.Stories260K);
        using var m2 = LlamaModel.Create(withoutOnline);
        using var s1 = m1.CreateSession();
        using var s2 = m2.CreateSession();
        var a = s1.Forward(tokens, 0, ExecutionMode.Fp32);
        var b = s2.Forward(tokens, 0, ExecutionMode.Fp32);
        Assert.True(a.Zip(b).Max(p => MathF.Abs(p.First - p.Second)) > 1e-2f);
    }
}
