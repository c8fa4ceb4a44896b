using QSpec.Kernels.Backends;
using QSpec.Model;

namespace QSpec.Inference;

/// <summary>
/// The key/value cache of one sequence: K and V [layers][capacity][kvDim] on the backend, and <see cref="Length"/>,
/// the number of valid positions. Speculative decoding writes draft positions past Length and cuts rejected
/// ones off with <see cref="Truncate"/>; the slots are simply overwritten by later forwards.
/// The cache also remembers which token, in which mode, produced each position, so a later prompt that shares a
/// prefix with what is cached can reuse those positions (<see cref="CommonPrefixLength"/>).
/// </summary>
public sealed class KvCache : IDisposable
{
    private bool _disposed;

    /// <param name="capacity">Positions held, 1..config.SeqLen (see <see cref="SessionOptions.ContextLength"/>).</param>
    internal KvCache(IBackend backend, LlamaConfig config, KvPrecision precision, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, config.SeqLen);
        Config = config;
        Precision = precision;
        Capacity = capacity;
        long size = (long)config.Layers * capacity * config.KvDim;
        Keys = backend.AllocateKv(size, precision);
        try { Values = backend.AllocateKv(size, precision); }
        catch { Keys.Dispose(); throw; } // e.g. device out of memory: free what was allocated
        _tokens = new int[capacity];
        _modes = new ExecutionMode[capacity];
    }

    // The token and mode that wrote each slot 0..Capacity-1; valid below Length.
    private readonly int[] _tokens;
    private readonly ExecutionMode[] _modes;

    /// <summary>The model shape.</summary>
    public LlamaConfig Config { get; }
    /// <summary>Element type.</summary>
    public KvPrecision Precision { get; }
    /// <summary>Valid positions 0 .. Length - 1.</summary>
    public int Length { get; internal set; }
    /// <summary>Positions available: the session's context length (at most the model's seq_len).</summary>
    public int Capacity { get; }
    /// <summary>Bytes held by K and V.</summary>
    public long SizeInBytes => 2L * Config.Layers * Capacity * Config.KvDim * (Precision == KvPrecision.Float16 ? 2 : 4);

    /// <summary>Positions computed into this cache since it was created (every forward row counts, drafts included).</summary>
    public long ComputedPositions { get; private set; }

    /// <summary>The token ids at positions 0 .. Length - 1.</summary>
    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Length);

    /// <summary>
    /// How many leading tokens of <paramref name="tokens"/> are already in the cache, computed in <paramref name="mode"/>:
    /// those positions can be kept and only the rest computed. Batch invariance makes the kept K/V identical to
    /// what a fresh prefill would write.
    /// </summary>
    public int CommonPrefixLength(ReadOnlySpan<int> tokens, ExecutionMode mode)
    {
        int n = Math.Min(tokens.Length, Length), i = 0;
        while (i < n && _tokens[i] == tokens[i] && _modes[i] == mode) i++;
        return i;
    }

    /// <summary>Notes that <paramref name="tokens"/> were written at <paramref name="start"/>.. in <paramref name="mode"/>.</summary>
    internal void Record(ReadOnlySpan<int> tokens, int start, ExecutionMode mode)
    {
        tokens.CopyTo(_tokens.AsSpan(start));
        _modes.AsSpan(start, tokens.Length).Fill(mode);
        ComputedPositions += tokens.Length;
    }

    internal DeviceBuffer Keys { get; }
    internal DeviceBuffer Values { get; }

    /// <summary>Element offset of layer <paramref name="layer"/> in K and V.</summary>
    internal long LayerOffset(int layer) => (long)layer * Capacity * Config.KvDim;

    /// <summary>Keeps positions 0 .. <paramref name="length"/> - 1 and forgets the rest.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative or beyond <see cref="Length"/>.</exception>
    /// <exception cref="ObjectDisposedException">The cache (its session) was disposed.</exception>
    public void Truncate(int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)length > (uint)Length)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"Truncate length must be in 0..{Length}.");
        Length = length;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Keys.Dispose();
        Values.Dispose();
    }
}
