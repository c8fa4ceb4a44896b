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

    /// <summary>
    /// Throws <see cref="ArgumentException"/> when the prompt is empty or longer than the context. A prompt that fits
    /// but leaves fewer than <see cref="MaxTokens"/> positions generates until the context is full
    /// (<see cref="FinishReason.ContextFull"/>).
    /// </summary>
    public void EnsureFits(int promptLength, int contextLength)
    {
        if (promptLength < 1) throw new ArgumentException("The prompt needs at least one token (BOS).", "prompt");
        if (promptLength > contextLength)
            throw new ArgumentException($"The prompt ({promptLength} tokens) is longer than the model's context length ({contextLength}).", "prompt");
    }
}
