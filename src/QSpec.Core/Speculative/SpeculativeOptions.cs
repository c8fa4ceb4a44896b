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

    /// <summary>The drafter: <see cref="ExecutionMode.W4A4"/> (default, the paper's) or <see cref="ExecutionMode.W4A8"/>.</summary>
    public ExecutionMode DraftMode { get; init; } = ExecutionMode.W4A4;

    /// <summary>Most tokens to generate. Default 256.</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>Token choice, applied identically to draft and target distributions. Default greedy.</summary>
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>
    /// Generation stops after emitting one of these ids. Default null: the model's end-of-generation ids
    /// (<see cref="EndOfGeneration.Ids(LlamaModel)"/>). An empty collection never stops early.
    /// </summary>
    public IReadOnlyCollection<int>? StopTokens { get; init; }

    /// <summary>
    /// BENCHMARKS ON SYNTHETIC WEIGHTS ONLY: when set, each draft token is accepted with this probability by an
    /// independent coin instead of the acceptance rule (as vLLM's synthetic rejection sampler does), so the real loop
    /// can be timed at a chosen acceptance rate. The output is then not the verifier's; never a quality claim.
    /// </summary>
    internal double? SyntheticAcceptanceRate { get; init; }

    /// <summary>The verifier's mode. Always <see cref="ExecutionMode.W4A16"/>: the output QSpec reproduces.</summary>
    public ExecutionMode VerifyMode => ExecutionMode.W4A16;

    /// <summary>Throws <see cref="ArgumentException"/> (or a subclass) naming the first invalid option.</summary>
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
        ArgumentNullException.ThrowIfNull(StopTokens);
        if (SyntheticAcceptanceRate is double a && !(a >= 0 && a <= 1))
            throw new ArgumentOutOfRangeException(nameof(SyntheticAcceptanceRate), a, "Must be in [0, 1].");
    }

    /// <summary>The largest k this configuration can use.</summary>
    public int KMax => AutoDraftLength ? MaxAutoDraftLength : DraftLength;
}
