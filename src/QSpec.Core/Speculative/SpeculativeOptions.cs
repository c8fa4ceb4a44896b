using QSpec.Generation;
using QSpec.Inference;

namespace QSpec.Speculative;

/// <summary>Options for QSpec speculative decoding.</summary>
public sealed class SpeculativeOptions
{
    /// <summary>Largest supported draft length.</summary>
    public const int MaxDraftLength = 16;

    /// <summary>Draft tokens per step, k. Default 3 (the paper's). Range 0..16; 0 is plain W4A16 decoding.</summary>
    public int DraftLength { get; init; } = 3;

    /// <summary>
    /// When true, k is chosen online (0..<see cref="DraftLength"/>... up to <see cref="MaxAutoDraftLength"/>) from the
    /// running acceptance rate and the measured draft and verify costs. Default false.
    /// </summary>
    public bool AutoDraftLength { get; init; }

    /// <summary>Upper bound for k in auto mode. Default 8.</summary>
    public int MaxAutoDraftLength { get; init; } = 8;

    /// <summary>
    /// The drafter: <see cref="ExecutionMode.W4A8"/> (default) or <see cref="ExecutionMode.W4A4"/> (the paper's). On CPUs
    /// both cost about the same per token (integer dots go through 8-bit instructions either way) and W4A8 drafts are
    /// accepted far more often (stories260K, k = 3: 98.8 % against 68.4 %), hence the default. With
    /// <see cref="AutoDraftMode"/> this is the mode tried first.
    /// </summary>
    public ExecutionMode DraftMode { get; init; } = ExecutionMode.W4A8;

    /// <summary>
    /// When true, each step's draft mode (W4A4 or W4A8) is chosen online, with k, from the measured draft costs and
    /// acceptance rates (see <see cref="DraftLengthController"/>). Default false.
    /// </summary>
    public bool AutoDraftMode { get; init; }

    /// <summary>Most tokens to generate. Default 256.</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>Token choice, applied identically to draft and target distributions. Default greedy.</summary>
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>
    /// Generation stops after emitting one of these ids. Default null: the model's end-of-generation ids
    /// (<see cref="EndOfGeneration.Ids(LlamaModel)"/>). An empty collection never stops early.
    /// </summary>
    public IReadOnlyCollection<int>? StopTokens { get; init; }

    /// <summary>The verifier's mode. Always <see cref="ExecutionMode.W4A16"/>: the output QSpec reproduces.</summary>
    public ExecutionMode VerifyMode => ExecutionMode.W4A16;

    /// <summary>Throws <see cref="ArgumentException"/> (or a subclass) whose ParamName is the first invalid property.</summary>
    public void Validate()
    {
        if (DraftLength is < 0 or > MaxDraftLength)
            throw new ArgumentOutOfRangeException(nameof(DraftLength), DraftLength, $"Draft length must be in 0..{MaxDraftLength}.");
        if (MaxAutoDraftLength is < 1 or > MaxDraftLength)
            throw new ArgumentOutOfRangeException(nameof(MaxAutoDraftLength), MaxAutoDraftLength, $"Must be in 1..{MaxDraftLength}.");
        if (DraftMode is not (ExecutionMode.W4A4 or ExecutionMode.W4A8))
            throw new ArgumentOutOfRangeException(nameof(DraftMode), DraftMode, "The draft mode must be W4A4 or W4A8.");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxTokens);
        ArgumentNullException.ThrowIfNull(Sampling);
        Sampling.Validate();
    }

    /// <summary>The draft modes a step may use: both when <see cref="AutoDraftMode"/>, <see cref="DraftMode"/> first.</summary>
    public IReadOnlyList<ExecutionMode> DraftModes => AutoDraftMode
        ? [DraftMode, DraftMode == ExecutionMode.W4A4 ? ExecutionMode.W4A8 : ExecutionMode.W4A4]
        : [DraftMode];

    /// <summary>The largest k this configuration can use.</summary>
    public int KMax => AutoDraftLength ? MaxAutoDraftLength : DraftLength;
}
