using QSpec.Generation;
using QSpec.Inference;
using QSpec.Speculative;

namespace QSpec.Core.Tests.Generation;

/// <summary>
/// Multi-turn KV cache reuse: a second prompt that extends the first turn's tokens computes only its new part, and
/// its output equals a fresh session's.
/// </summary>
public class CacheReuseTests
{
    private static readonly int[] s_turn1 = [TestData.Bos, .. TestData.Expected.Ids[..5]];
    private static readonly int[] s_extra = [403, 407, 261];

    [Theory]
    [InlineData(ExecutionMode.W4A16)]
    [InlineData(ExecutionMode.Fp32)]
    public void GeneratorSecondTurnComputesOnlyTheNewTokensAndEqualsAFreshSession(ExecutionMode mode)
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var session = model.CreateSession();
        var options = new GenerationOptions { MaxTokens = 20, Mode = mode };
        var generator = new Generator(session);
        var first = generator.Generate(s_turn1, options).ToArray();
        Assert.Equal(0, generator.ReusedPromptTokens);
        Assert.Equal(s_turn1.Length + first.Length - 1, session.Length); // the last token was emitted, not computed

        int[] turn2 = [.. s_turn1, .. first, .. s_extra];
        long before = session.Cache.ComputedPositions;
        var second = generator.Generate(turn2, options).ToArray();
        long computed = session.Cache.ComputedPositions - before;

        Assert.Equal(s_turn1.Length + first.Length - 1, generator.ReusedPromptTokens);
        // Prefill: the last emitted token of turn 1 and the new tokens; then one forward per generated token but the last.
        Assert.Equal(1 + s_extra.Length + second.Length - 1, computed);
        using var fresh = model.CreateSession();
        Assert.Equal(new Generator(fresh).Generate(turn2, options).ToArray(), second);
    }

    [Fact]
    public void SpeculativeSecondTurnComputesOnlyTheNewTokensAndEqualsAFreshSession()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var session = model.CreateSession();
        var options = new SpeculativeOptions { DraftLength = 3, MaxTokens = 20 };
        var decoder = new SpeculativeDecoder(session, options);
        var first = decoder.Generate(s_turn1).ToArray();
        int[] turn2 = [.. s_turn1, .. first, .. s_extra];
        long before = session.Cache.ComputedPositions;
        var second = decoder.Generate(turn2).ToArray();
        long prefill = session.Cache.ComputedPositions - before - decoder.Statistics.Drafted - (decoder.Statistics.Drafted + decoder.Statistics.Steps);

        // Everything turn 1 cached is reused: the prompt and every emitted token but the last (still pending then).
        Assert.True(decoder.ReusedPromptTokens >= s_turn1.Length + first.Length - 1, $"reused {decoder.ReusedPromptTokens}");
        // The prefill computes the rest of the prompt, its last token included (the first token comes from its logits).
        Assert.Equal(turn2.Length - decoder.ReusedPromptTokens, prefill);
        using var fresh = model.CreateSession();
        using var plain = model.CreateSession();
        Assert.Equal(new SpeculativeDecoder(fresh, options).Generate(turn2).ToArray(), second);
        Assert.Equal(new Generator(plain).Generate(turn2, new GenerationOptions { MaxTokens = 20, Mode = ExecutionMode.W4A16 }).ToArray(), second);
    }

    [Fact]
    public void ADifferentModeReusesNothing()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var session = model.CreateSession();
        var generator = new Generator(session);
        var first = generator.Generate(s_turn1, new GenerationOptions { MaxTokens = 8, Mode = ExecutionMode.W4A4 }).ToArray();
        generator.Generate([.. s_turn1, .. first], new GenerationOptions { MaxTokens = 8, Mode = ExecutionMode.W4A16 }).ToArray();
        Assert.Equal(0, generator.ReusedPromptTokens);
    }

    [Fact]
    public void ADivergingPromptReusesTheCommonPrefixOnly()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var session = model.CreateSession();
        var generator = new Generator(session);
        var options = new GenerationOptions { MaxTokens = 8, Mode = ExecutionMode.W4A16 };
        generator.Generate(s_turn1, options).ToArray();
        int[] other = [.. s_turn1[..3], 403, 407];
        var got = generator.Generate(other, options).ToArray();
        Assert.Equal(3, generator.ReusedPromptTokens);
        using var fresh = model.CreateSession();
        Assert.Equal(new Generator(fresh).Generate(other, options).ToArray(), got);
    }
}
