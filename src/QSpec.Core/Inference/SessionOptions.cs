using QSpec.Kernels.Backends;

namespace QSpec.Inference;

/// <summary>Options for an <see cref="InferenceSession"/>.</summary>
public sealed class SessionOptions
{
    /// <summary>KV cache element type. Default <see cref="KvPrecision.Float32"/> (exact); Float16 halves cache memory.</summary>
    public KvPrecision KvPrecision { get; init; } = KvPrecision.Float32;

    /// <summary>
    /// Most positions computed by one forward call (all sequences together). Longer prompts are processed in
    /// chunks of this size, which changes no result because every op is batch invariant. Default 64; range 1..4096.
    /// </summary>
    public int MaxBatchRows { get; init; } = 64;

    /// <summary>Throws when an option is out of range.</summary>
    public void Validate()
    {
        if (MaxBatchRows is < 1 or > 4096)
            throw new ArgumentOutOfRangeException(nameof(MaxBatchRows), MaxBatchRows, "MaxBatchRows must be in 1..4096.");
        if (!Enum.IsDefined(KvPrecision))
            throw new ArgumentOutOfRangeException(nameof(KvPrecision), KvPrecision, "Unknown KV precision.");
    }
}
