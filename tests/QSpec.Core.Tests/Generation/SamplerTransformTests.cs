using QSpec.Generation;

namespace QSpec.Core.Tests.Generation;

/// <summary>Logit bias, penalties and min-p against hand-computed values.</summary>
public class SamplerTransformTests
{
    private static readonly float[] s_logits = [2f, -1f, 0.5f, 3f];

    [Fact]
    public void PenaltiesAndBiasChangeTheLogitsAsDocumented()
    {
        var sampler = new Sampler(new SamplingOptions
        {
            RepetitionPenalty = 2f, FrequencyPenalty = 0.5f, PresencePenalty = 0.25f, LogitBias = new Dictionary<int, float> { [3] = float.NegativeInfinity },
        });
        var t = sampler.Transform(s_logits, [0, 0, 1]).ToArray();
        // id 0: 2 / 2 − 2·0.5 − 0.25; id 1: −1 · 2 − 0.5 − 0.25; id 2 untouched; id 3 banned.
        Assert.Equal([-0.25f, -2.75f, 0.5f, float.NegativeInfinity], t);
        Assert.Equal(2, sampler.Sample(s_logits, [0, 0, 1])); // greedy on the transformed logits
        Assert.Equal(3, new Sampler(SamplingOptions.Greedy).Sample(s_logits, [0, 0, 1]));
    }

    [Fact]
    public void ThePenaltyWindowSeesOnlyTheLastTokens()
    {
        var sampler = new Sampler(new SamplingOptions { PresencePenalty = 1f, PenaltyWindow = 2 });
        Assert.Equal([2f, -2f, -0.5f, 3f], sampler.Transform(s_logits, [0, 0, 1, 2]).ToArray()); // only ids 1 and 2 are in the window
    }

    [Fact]
    public void MinPKeepsTokensWithinTheFractionOfTheMostLikely()
    {
        var probs = new float[4];
        new Sampler(new SamplingOptions { Temperature = 1f, MinP = 0.3f }).ComputeProbabilities(s_logits, probs);
        double[] p = s_logits.Select(l => Math.Exp(l)).ToArray();
        double pmax = p.Max();
        // Softmax ratios p_i / p_max = e^(l_i − 3): 0.37 (kept), 0.018, 0.082 (dropped), 1 (kept).
        double kept = p[0] + p[3];
        double[] expected = [p[0] / kept, 0, 0, p[3] / kept];
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], probs[i], 1e-6);
        Assert.True(p[0] / pmax >= 0.3 && p[2] / pmax < 0.3);
    }

    [Theory]
    [InlineData("MinP", 1.5f)]
    [InlineData("RepetitionPenalty", 0f)]
    [InlineData("FrequencyPenalty", 3f)]
    [InlineData("PresencePenalty", -2.5f)]
    public void OutOfRangeOptionsThrowNamingTheOption(string name, float value)
    {
        var o = name switch
        {
            "MinP" => new SamplingOptions { MinP = value },
            "RepetitionPenalty" => new SamplingOptions { RepetitionPenalty = value },
            "FrequencyPenalty" => new SamplingOptions { FrequencyPenalty = value },
            _ => new SamplingOptions { PresencePenalty = value },
        };
        Assert.Equal(name, Assert.Throws<ArgumentOutOfRangeException>(o.Validate).ParamName);
    }
}
