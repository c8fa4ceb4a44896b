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

    /// <summary>
    /// Generation stops after emitting one of these ids (it is emitted). Default null: the model's end-of-generation
    /// ids (<see cref="EndOfGeneration.Ids(LlamaModel)"/>: EOS, BOS and end-of-turn tokens of its tokenizer; none when the model
    /// has no tokenizer). An empty collection never stops early.
    /// </summary>
    public IReadOnlyCollection<int>? StopTokens { get; init; }

    /// <summary>Throws when an option is invalid.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxTokens);
        ArgumentNullException.ThrowIfNull(Sampling);
        Sampling.Validate();
    }

    /// <summary>The mode to run on <paramref name="model"/>.</summary>
    public ExecutionMode ResolveMode(LlamaModel model) => Mode ?? model.PreferredMode;

    /// <summary>The stop ids to use on <paramref name="model"/>: <see cref="StopTokens"/>, or the model's defaults.</summary>
    public IReadOnlyCollection<int> ResolveStopTokens(LlamaModel model) => StopTokens ?? EndOfGeneration.Ids(model);
}
