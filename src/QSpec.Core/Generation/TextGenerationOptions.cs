using QSpec.Inference;
using QSpec.Speculative;

namespace QSpec.Generation;

/// <summary>Options for text-level generation (<see cref="TextGenerator"/>).</summary>
public sealed class TextGenerationOptions
{
    /// <summary>Most tokens to generate. Default 256; must be positive. Generation also stops when the context is full.</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>Token choice. Default greedy.</summary>
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>
    /// Null (default): QSpec speculative decoding when the model has INT4 weights (output equals plain W4A16), else
    /// plain Fp32. Set a mode for plain decoding in that mode.
    /// </summary>
    public ExecutionMode? Mode { get; init; }

    /// <summary>QSpec draft tokens per step; null (default) picks k online (<see cref="SpeculativeOptions.AutoDraftLength"/>).</summary>
    public int? DraftLength { get; init; }

    /// <summary>
    /// QSpec drafter: W4A4 (the paper's) or W4A8. Default null: chosen online from the measured draft costs and
    /// acceptance, trying <see cref="SpeculativeOptions.DraftMode"/>'s default first (<see cref="SpeculativeOptions.AutoDraftMode"/>).
    /// </summary>
    public ExecutionMode? DraftMode { get; init; }

    /// <summary>
    /// Texts that end generation, matched on the decoded text across token boundaries; the text from the match on is
    /// not returned. Default none.
    /// </summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Token ids that end generation (not printed). Default null: the model's (<see cref="EndOfGeneration"/>).</summary>
    public IReadOnlyCollection<int>? StopTokens { get; init; }

    /// <summary>When true the prompt's text is returned first. Default false.</summary>
    public bool Echo { get; init; }

    /// <summary>Prepend BOS to a text prompt. Default true.</summary>
    public bool AddBos { get; init; } = true;

    /// <summary>True when this runs QSpec on <paramref name="model"/>.</summary>
    public bool IsSpeculative(LlamaModel model) => Mode is null && model.Supports(ExecutionMode.W4A16);

    /// <summary>Throws <see cref="ArgumentException"/> (or a subclass) naming the first invalid option.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxTokens);
        ArgumentNullException.ThrowIfNull(Sampling);
        Sampling.Validate();
        ArgumentNullException.ThrowIfNull(StopStrings);
        foreach (var s in StopStrings)
            if (string.IsNullOrEmpty(s)) throw new ArgumentException("Stop strings must not be null or empty.", nameof(StopStrings));
        if (Mode is ExecutionMode m && !Enum.IsDefined(m)) throw new ArgumentOutOfRangeException(nameof(Mode), m, "Unknown execution mode.");
        if (DraftLength is int k && (k < 0 || k > SpeculativeOptions.MaxDraftLength))
            throw new ArgumentOutOfRangeException(nameof(DraftLength), k, $"DraftLength must be in 0..{SpeculativeOptions.MaxDraftLength}.");
        if (DraftMode is ExecutionMode draft && draft is not (ExecutionMode.W4A4 or ExecutionMode.W4A8))
            throw new ArgumentOutOfRangeException(nameof(DraftMode), DraftMode, "The draft mode must be W4A4 or W4A8.");
    }
}
