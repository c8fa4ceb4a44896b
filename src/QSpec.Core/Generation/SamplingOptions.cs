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

    /// <summary>True when <see cref="Temperature"/> is 0.</summary>
    public bool IsGreedy => Temperature == 0f;

    /// <summary>Greedy decoding.</summary>
    public static SamplingOptions Greedy { get; } = new();

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (!(Temperature >= 0f && Temperature <= 100f))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be in [0, 100].");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be 0 (off) or positive.");
        if (!(TopP > 0f && TopP <= 1f)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
    }
}
