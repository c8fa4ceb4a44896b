using QSpec.Generation;
using QSpec.Inference;
using QSpec.Quantization;
using QSpec.Speculative;

namespace QSpec.Core.Tests.Generation;

/// <summary>
/// Every options type validates one way: <c>void Validate()</c> throws an <see cref="ArgumentException"/> (or subclass)
/// whose ParamName is the invalid property.
/// </summary>
public sealed class OptionsValidationTests
{
    public static TheoryData<string, string> Cases => new()
    {
        { "quantizer group size 48", "GroupSize" },
        { "quantizer damp 0", "Damp" },
        { "sampling temperature -1", "Temperature" },
        { "sampling top-p 0", "TopP" },
        { "generation max tokens 0", "MaxTokens" },
        { "generation sampling null", "Sampling" },
        { "speculative draft length 17", "DraftLength" },
        { "speculative max tokens -1", "MaxTokens" },
        { "session max batch rows 0", "MaxBatchRows" },
        { "session context length 0", "ContextLength" },
        { "load context length 0", "ContextLength" },
    };

    private static Action Make(string name) => name switch
    {
        "quantizer group size 48" => () => new QuantizerOptions { GroupSize = 48 }.Validate(),
        "quantizer damp 0" => () => new QuantizerOptions { Damp = 0 }.Validate(),
        "sampling temperature -1" => () => new SamplingOptions { Temperature = -1 }.Validate(),
        "sampling top-p 0" => () => new SamplingOptions { TopP = 0 }.Validate(),
        "generation max tokens 0" => () => new GenerationOptions { MaxTokens = 0 }.Validate(),
        "generation sampling null" => () => new GenerationOptions { Sampling = null! }.Validate(),
        "speculative draft length 17" => () => new SpeculativeOptions { DraftLength = 17 }.Validate(),
        "speculative max tokens -1" => () => new SpeculativeOptions { MaxTokens = -1 }.Validate(),
        "session max batch rows 0" => () => new SessionOptions { MaxBatchRows = 0 }.Validate(),
        "session context length 0" => () => new SessionOptions { ContextLength = 0 }.Validate(),
        "load context length 0" => () => new ModelLoadOptions { ContextLength = 0 }.Validate(),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void InvalidOptionThrowsArgumentExceptionNamingTheProperty(string name, string property)
    {
        var e = Assert.ThrowsAny<ArgumentException>(Make(name));
        Assert.Equal(property, e.ParamName);
    }
}
