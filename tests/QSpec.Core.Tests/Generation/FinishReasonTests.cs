using QSpec.Generation;
using QSpec.Inference;
using QSpec.Speculative;

namespace QSpec.Core.Tests.Generation;

/// <summary>How generation ends: stop tokens, MaxTokens, and the context end (a finish reason, not an exception).</summary>
public class FinishReasonTests
{
    [Fact]
    public void APromptNearTheContextEndGeneratesUntilTheCacheIsFull()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        int seqLen = model.Config.SeqLen;
        var prompt = Enumerable.Range(0, seqLen - 12).Select(i => i == 0 ? TestData.Bos : TestData.Expected.Ids[i % 200]).ToArray();
        using var s = model.CreateSession();
        var generator = new Generator(s);
        var plain = generator.Generate(prompt, new GenerationOptions { MaxTokens = 100, Mode = ExecutionMode.W4A16, StopTokens = [] }).ToArray();
        // Positions 0..seqLen-1 hold the prompt and every emitted token but the last.
        Assert.Equal(seqLen - prompt.Length + 1, plain.Length);
        Assert.Equal(FinishReason.ContextFull, generator.FinishReason);

        using var spec = model.CreateSession();
        var decoder = new SpeculativeDecoder(spec, new SpeculativeOptions { MaxTokens = 100, StopTokens = [] });
        Assert.Equal(plain, decoder.Generate(prompt).ToArray());
        Assert.Equal(FinishReason.ContextFull, decoder.FinishReason);
    }

    [Fact]
    public void APromptLongerThanTheContextThrowsNamingThePrompt()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var s = model.CreateSession();
        var tooLong = Enumerable.Repeat(TestData.Bos, model.Config.SeqLen + 1).ToArray();
        Assert.Equal("prompt", Assert.Throws<ArgumentException>(() => new Generator(s).Generate(tooLong, new GenerationOptions())).ParamName);
        Assert.Equal("prompt", Assert.Throws<ArgumentException>(() => new SpeculativeDecoder(s, new SpeculativeOptions()).Generate(tooLong)).ParamName);
    }

    [Fact]
    public void StopTokenAndMaxTokensAreReported()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var s = model.CreateSession();
        var generator = new Generator(s);
        int[] prompt = [TestData.Bos];
        var all = generator.Generate(prompt, new GenerationOptions { MaxTokens = 10, Mode = ExecutionMode.W4A16 }).ToArray();
        Assert.Equal(FinishReason.MaxTokens, generator.FinishReason);
        var stopped = generator.Generate(prompt, new GenerationOptions { MaxTokens = 10, Mode = ExecutionMode.W4A16, StopTokens = [all[3]] }).ToArray();
        Assert.Equal(all[..(Array.IndexOf(all, all[3]) + 1)], stopped);
        Assert.Equal(FinishReason.StopToken, generator.FinishReason);
    }
}
