using QSpec.Inference;

namespace QSpec.Generation;

/// <summary>Options for plain autoregressive generation.</summary>
public sealed class GenerationOptions
{
    /// <summary>Most tokens to generate after the prompt. Default 256; must be positive.</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>Token choice. Default greedy.</summary>
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>Execution mode. Default null: W4A16 when the model has INT4 weights, else Fp32.</summary>
    public ExecutionMode? Mode { get; init; }

    /// <summary>Generation stops after emitting one of these ids (it is emitted). Default: none.</summary>
    public IReadOnlyCollection<int> StopTokens { get; init; } = [];

    /// <summary>Throws when an option is invalid.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxTokens);
        ArgumentNullException.ThrowIfNull(Sampling);
        Sampling.Validate();
    }

    /// <summary>The mode to run on <paramref name="model"/>.</summary>
    public ExecutionMode ResolveMode(LlamaModel model) => Mode ?? model.PreferredMode;

    /// <summary>Throws <see cref="ArgumentException"/> when the prompt plus <see cref="MaxTokens"/> exceed the context.</summary>
    public void EnsureFits(int promptLength, int contextLength)
    {
        if (promptLength < 1) throw new ArgumentException("The prompt needs at least one token (BOS).", "prompt");
        if ((long)promptLength + MaxTokens > contextLength)
            throw new ArgumentException(
                $"The prompt ({promptLength} tokens) plus MaxTokens ({MaxTokens}) exceeds the model's context length ({contextLength}).", "prompt");
    }
}
