using QSpec.Inference;
using QSpec.Model;

namespace QSpec.Core.Tests.Model;

public sealed class LlamaWeightsTests
{
    /// <summary>Every one of the eight linear slots, each in turn left without INT4 (or without float32) weights.</summary>
    public static TheoryData<string> Slots => new() { "wq", "wk", "wv", "wo", "w1", "w2", "w3", "classifier" };

    private static LlamaWeights WithOneLayerChanged(string slot, Func<LinearWeight, LinearWeight> change)
    {
        var w = TestData.QuantizeRtn(Quantization.SyntheticModel.Create(layers: 2), groupSize: 0);
        LinearWeight C(string name, LinearWeight l) => name == slot ? change(l) : l;
        var layers = w.Layers.Select((l, i) => i != 1 ? l : l with
        {
            Wq = C("wq", l.Wq), Wk = C("wk", l.Wk), Wv = C("wv", l.Wv), Wo = C("wo", l.Wo), W1 = C("w1", l.W1), W2 = C("w2", l.W2), W3 = C("w3", l.W3),
        }).ToArray();
        return new LlamaWeights(w.Config with { SharedClassifier = false }, w.TokenEmbedding, layers, w.FinalNorm, C("classifier", w.Classifier), w.Quantization);
    }

    [Theory]
    [MemberData(nameof(Slots))]
    public void HasInt4IsFalseWhenAnyLinearLayerLacksInt4(string slot)
    {
        var w = WithOneLayerChanged(slot, l => new LinearWeight(l.Rows, l.Columns, l.Dense, null));
        Assert.True(w.HasDense);
        Assert.False(w.HasInt4);
        using var model = LlamaModel.Create(w);
        Assert.False(model.Supports(ExecutionMode.W4A16));
        Assert.Equal(ExecutionMode.Fp32, model.PreferredMode);
    }

    [Theory]
    [MemberData(nameof(Slots))]
    public void HasDenseIsFalseWhenAnyLinearLayerLacksFloat32(string slot)
    {
        var w = WithOneLayerChanged(slot, l => new LinearWeight(l.Rows, l.Columns, null, l.Int4));
        Assert.True(w.HasInt4);
        Assert.False(w.HasDense);
        Assert.True(w.WithDequantizedDense().HasDense);
        using var model = LlamaModel.Create(w);
        Assert.False(model.Supports(ExecutionMode.Fp32));
        Assert.Equal(ExecutionMode.W4A16, model.PreferredMode);
    }
}
