namespace QSpec.Generation;

/// <summary>How the next token is chosen from logits.</summary>
public sealed class SamplingOptions
{
    /// <summary>Softmax temperature. Default 0: greedy argmax. Range [0, 100].</summary>
    public float Temperature { get; init; }

    /// <summary>Keep only the <c>TopK</c> most likely tokens. Default 0: no limit.</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of most likely tokens whose probability reaches <c>TopP</c>. Default 1: no limit. Range (0, 1].</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Seed of the sampler's random stream; the same seed reproduces the same tokens. Default null: a random seed.</summary>
    public int? Seed { get; init; }

    /// <summary>
    /// Min-p: after top-k and top-p, keep only tokens whose probability is at least <c>MinP</c> times the most likely
    /// one's. Default 0: off. Range [0, 1].
    /// </summary>
    public float MinP { get; init; }

    /// <summary>
    /// Repetition penalty (CTRL, as llama.cpp): the logit of each token seen in the last <see cref="PenaltyWindow"/>
    /// tokens is divided by it when positive and multiplied by it when negative. Default 1: off. Range (0, 10].
    /// </summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>Frequency penalty: subtracted from a token's logit once per occurrence in the window. Default 0: off. Range [-2, 2].</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>Presence penalty: subtracted from the logit of every token present in the window. Default 0: off. Range [-2, 2].</summary>
    public float PresencePenalty { get; init; }

    /// <summary>How many of the most recent context tokens (prompt included) the penalties look at. Default 64; 0: the whole context.</summary>
    public int PenaltyWindow { get; init; } = 64;

    /// <summary>Added to the logits of the given token ids before anything else; <see cref="float.NegativeInfinity"/> bans a token. Default null: none.</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    /// <summary>True when <see cref="Temperature"/> is 0.</summary>
    public bool IsGreedy => Temperature == 0f;

    /// <summary>True when the logits are changed before the choice (logit bias or a penalty), so greedy picks need them on the host.</summary>
    public bool TransformsLogits => LogitBias is { Count: > 0 } || RepetitionPenalty != 1f || FrequencyPenalty != 0f || PresencePenalty != 0f;

    /// <summary>These options with another <see cref="Seed"/>.</summary>
    public SamplingOptions WithSeed(int? seed) => new()
    {
        Temperature = Temperature, TopK = TopK, TopP = TopP, Seed = seed, MinP = MinP, RepetitionPenalty = RepetitionPenalty,
        FrequencyPenalty = FrequencyPenalty, PresencePenalty = PresencePenalty, PenaltyWindow = PenaltyWindow, LogitBias = LogitBias,
    };

    /// <summary>Greedy decoding.</summary>
    public static SamplingOptions Greedy { get; } = new();

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (!(Temperature >= 0f && Temperature <= 100f))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be in [0, 100].");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be 0 (off) or positive.");
        if (!(TopP > 0f && TopP <= 1f)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        if (!(MinP >= 0f && MinP <= 1f)) throw new ArgumentOutOfRangeException(nameof(MinP), MinP, "MinP must be in [0, 1].");
        if (!(RepetitionPenalty > 0f && RepetitionPenalty <= 10f))
            throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty, "RepetitionPenalty must be in (0, 10].");
        if (!(FrequencyPenalty >= -2f && FrequencyPenalty <= 2f))
            throw new ArgumentOutOfRangeException(nameof(FrequencyPenalty), FrequencyPenalty, "FrequencyPenalty must be in [-2, 2].");
        if (!(PresencePenalty >= -2f && PresencePenalty <= 2f))
            throw new ArgumentOutOfRangeException(nameof(PresencePenalty), PresencePenalty, "PresencePenalty must be in [-2, 2].");
        if (PenaltyWindow < 0) throw new ArgumentOutOfRangeException(nameof(PenaltyWindow), PenaltyWindow, "PenaltyWindow must be 0 (whole context) or positive.");
        if (LogitBias is not null)
            foreach (var (id, bias) in LogitBias)
                if (id < 0 || float.IsNaN(bias) || float.IsPositiveInfinity(bias))
                    throw new ArgumentOutOfRangeException(nameof(LogitBias), $"{id}: {bias}", "Logit bias ids must be non-negative and biases finite or -Infinity.");
    }
}
