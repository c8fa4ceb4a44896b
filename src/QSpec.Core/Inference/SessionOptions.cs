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

    /// <summary>The context length used when <see cref="ContextLength"/> is null and the model allows more.</summary>
    public const int DefaultContextLength = 4096;

    /// <summary>
    /// Positions the session's KV cache holds (prompt plus generated tokens). Default null: the model's maximum
    /// (its seq_len) or <see cref="DefaultContextLength"/>, whichever is smaller, so a file claiming a huge context
    /// cannot make every session allocate a huge cache. Range 1..the model's seq_len.
    /// </summary>
    public int? ContextLength { get; init; }

    /// <summary>The context length for a model whose maximum is <paramref name="modelMaximum"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="ContextLength"/> is outside 1..<paramref name="modelMaximum"/>.</exception>
    public int ResolveContextLength(int modelMaximum)
    {
        if (ContextLength is int n && (n < 1 || n > modelMaximum))
            throw new ArgumentOutOfRangeException(nameof(ContextLength), n, $"ContextLength must be in 1..{modelMaximum} (the model's seq_len).");
        return ContextLength ?? Math.Min(modelMaximum, DefaultContextLength);
    }

    /// <summary>Throws <see cref="ArgumentException"/> (or a subclass) naming the first invalid option.</summary>
    public void Validate()
    {
        if (MaxBatchRows is < 1 or > 4096)
            throw new ArgumentOutOfRangeException(nameof(MaxBatchRows), MaxBatchRows, "MaxBatchRows must be in 1..4096.");
        if (!Enum.IsDefined(KvPrecision))
            throw new ArgumentOutOfRangeException(nameof(KvPrecision), KvPrecision, "Unknown KV precision.");
        if (ContextLength is < 1)
            throw new ArgumentOutOfRangeException(nameof(ContextLength), ContextLength, "ContextLength must be positive.");
    }
}
