using QSpec.Kernels.Backends;

namespace QSpec.Inference;

/// <summary>
/// One conversation with a <see cref="LlamaModel"/>: its KV cache, its activation scratch and its position.
/// Not thread-safe; dispose it to free the cache. Every method throws <see cref="ObjectDisposedException"/> once the
/// session or its model is disposed. One generation at a time: starting a second <see cref="Generation.Generator"/> or
/// <see cref="Speculative.SpeculativeDecoder"/> generation makes the first one throw at its next step.
/// </summary>
public sealed class InferenceSession : IDisposable
{
    private readonly ForwardScratch _scratch;
    private int _logitRows;
    private bool _disposed;
    private int _generation;

    internal InferenceSession(LlamaModel model, SessionOptions options)
    {
        options.Validate();
        Model = model;
        Options = options;
        Cache = new KvCache(model.Backend, model.Config, options.KvPrecision, options.ResolveContextLength(model.Config.SeqLen));
        try { _scratch = new ForwardScratch(model.Backend, model.Config, options.MaxBatchRows); }
        catch { Cache.Dispose(); throw; } // e.g. device out of memory: leave nothing allocated
    }

    /// <summary>The model (weights shared with other sessions).</summary>
    public LlamaModel Model { get; }
    /// <summary>The options this session was created with.</summary>
    public SessionOptions Options { get; }
    /// <summary>This session's KV cache.</summary>
    public KvCache Cache { get; }
    /// <summary>Number of positions in the cache.</summary>
    public int Length => Cache.Length;
    /// <summary>Most positions this session holds: <see cref="SessionOptions.ContextLength"/> resolved for the model.</summary>
    public int ContextLength => Cache.Capacity;
    /// <summary>Receives every linear layer's input during forwards (null: none).</summary>
    public ILinearInputObserver? LinearInputObserver { get; set; }

    internal ForwardScratch Scratch => _scratch;

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions <paramref name="startPosition"/>.. and returns their logits [M, V].
    /// Positions from <paramref name="startPosition"/> on are overwritten; the cache length becomes start + M.
    /// </summary>
    public float[] Forward(ReadOnlySpan<int> tokens, int startPosition, ExecutionMode mode)
    {
        int v = Model.Config.VocabSize;
        var logits = new float[(long)tokens.Length * v];
        Run(tokens, startPosition, mode, (offset, rows) => Model.Backend.Download(_scratch.Logits, logits.AsSpan(offset * v, rows * v)));
        return logits;
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> like <see cref="Forward"/> but keeps the logits on the backend; read the last
    /// rows with <see cref="GetLogits"/> or <see cref="Argmax"/>.
    /// </summary>
    public void Prefill(ReadOnlySpan<int> tokens, int startPosition, ExecutionMode mode) => Run(tokens, startPosition, mode, null);

    /// <summary>Copies the logits of row <paramref name="row"/> (0 = first row of the last forward chunk; -1 = last row).</summary>
    public void GetLogits(Span<float> destination, int row = -1)
    {
        ThrowIfDisposed();
        int v = Model.Config.VocabSize;
        if (destination.Length != v) throw new ArgumentException($"Destination has {destination.Length} elements; the vocabulary has {v}.", nameof(destination));
        Model.Backend.Download(_scratch.Logits, destination, (long)ResolveRow(row) * v);
    }

    /// <summary>The argmax of row <paramref name="row"/>'s logits (-1 = last row), computed on the backend.</summary>
    public int Argmax(int row = -1)
    {
        ThrowIfDisposed();
        return Model.Backend.Argmax(_scratch.Logits, (long)ResolveRow(row) * Model.Config.VocabSize, Model.Config.VocabSize);
    }

    /// <summary>Forgets every position.</summary>
    public void Reset()
    {
        ThrowIfDisposed();
        Cache.Truncate(0);
    }

    /// <summary>Marks the start of a generation on this session; any generation started earlier stops being valid.</summary>
    internal int BeginGeneration()
    {
        ThrowIfDisposed();
        return ++_generation;
    }

    /// <summary>Throws when another generation started on this session after the one holding <paramref name="stamp"/>.</summary>
    internal void EnsureGeneration(int stamp)
    {
        ThrowIfDisposed();
        if (stamp != _generation)
            throw new InvalidOperationException("Another generation started on this session; a session runs one generation at a time (use one session per generator).");
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> when this session or its model is disposed.</summary>
    internal void ThrowIfDisposed()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Model.ThrowIfDisposed();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Cache.Dispose();
        _scratch.Dispose();
    }

    private int ResolveRow(int row)
    {
        if (_logitRows == 0) throw new InvalidOperationException("No logits yet: run a forward first.");
        int r = row < 0 ? _logitRows + row : row;
        if ((uint)r >= (uint)_logitRows) throw new ArgumentOutOfRangeException(nameof(row), row, $"The last forward produced {_logitRows} rows.");
        return r;
    }

    private void Run(ReadOnlySpan<int> tokens, int startPosition, ExecutionMode mode, Action<int, int>? onChunk)
    {
        ThrowIfDisposed();
        Model.EnsureSupports(mode);
        ValidatePositions(tokens, startPosition);
        _logitRows = Transformer.ForwardChunked(Model, _scratch, Cache, tokens, startPosition, mode, LinearInputObserver, onChunk);
    }

    internal void ValidatePositions(ReadOnlySpan<int> tokens, int startPosition)
    {
        var c = Model.Config;
        if (tokens.IsEmpty) throw new ArgumentException("At least one token is required.", nameof(tokens));
        if ((uint)startPosition > (uint)Cache.Length)
            throw new ArgumentOutOfRangeException(nameof(startPosition), startPosition, $"Start position must be in 0..{Cache.Length} (the cache length).");
        if ((long)startPosition + tokens.Length > Cache.Capacity)
            throw new ArgumentOutOfRangeException(nameof(tokens), tokens.Length, $"Positions {startPosition}..{startPosition + tokens.Length - 1} exceed the session's context length {Cache.Capacity}.");
        foreach (int t in tokens)
            if ((uint)t >= (uint)c.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), t, $"Token id must be in 0..{c.VocabSize - 1}.");
    }
}
