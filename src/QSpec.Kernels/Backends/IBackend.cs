using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends;

/// <summary>
/// The op set a Llama forward needs, on buffers the backend owns. Implemented by the CPU SIMD backend
/// and the ILGPU backend (CUDA, or ILGPU's CPU accelerator in tests).
/// </summary>
/// <remarks>
/// <para>Shapes are row-major: an activation X[M, D] is M rows (tokens) of D floats starting at element 0.</para>
/// <para>Batch invariance: every op computes row m with a fixed reduction order that does not depend on M or on
/// the other rows, so an M-row call equals M one-row calls bit for bit. Speculative decoding relies on this.</para>
/// <para>Ops do not validate shapes beyond cheap checks; callers (the transformer) check them once.
/// Ops on one backend run in order; <see cref="Synchronize"/> waits for them.</para>
/// </remarks>
public interface IBackend : IDisposable
{
    /// <summary>Human-readable name, e.g. "cpu (avx512f, avxvnni)" or "cuda (NVIDIA H100)".</summary>
    string Name { get; }

    // ---- memory ----

    /// <summary>A zeroed float32 buffer of <paramref name="length"/> elements.</summary>
    DeviceBuffer Allocate(long length);

    /// <summary>A KV cache buffer of <paramref name="length"/> elements in the given precision, zeroed.</summary>
    DeviceBuffer AllocateKv(long length, KvPrecision precision);

    /// <summary>Per-token quantized activations for up to <paramref name="maxRows"/> × <paramref name="maxColumns"/>.</summary>
    QuantizedActivationBuffer AllocateQuantizedActivations(int maxRows, int maxColumns);

    /// <summary>Copies host floats into <paramref name="destination"/> at element <paramref name="offset"/>.</summary>
    void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long offset = 0);

    /// <summary>Copies elements [offset, offset + destination.Length) of <paramref name="source"/> to the host.</summary>
    void Download(DeviceBuffer source, Span<float> destination, long offset = 0);

    /// <summary>Makes a weight handle. The CPU backend keeps references to the arrays (no copy).</summary>
    /// <param name="int4">INT4 weights, or null.</param>
    /// <param name="dense">Dense W[N, K] row-major float32, or null.</param>
    DeviceMatrix CreateMatrix(Int4Matrix? int4, float[]? dense, int rows, int columns);

    /// <summary>Waits until every queued op has finished.</summary>
    void Synchronize();

    // ---- ops ----

    /// <summary>X[m, :] = table[tokens[m], :] for m &lt; tokens.Length; table is [V, D].</summary>
    void Embedding(DeviceBuffer table, ReadOnlySpan<int> tokens, int dim, DeviceBuffer x);

    /// <summary>Y[m, :] = X[m, :] · weight / sqrt(mean(X[m, :]²) + eps), for M rows of D.</summary>
    void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps);

    /// <summary>Y[M, N] = X[M, K] · Wᵀ with float32 weights (reference mode).</summary>
    void LinearF32(DeviceBuffer x, DeviceMatrix w, DeviceBuffer y, int rows);

    /// <summary>Y[M, N] = X[M, K] · dequant(W)ᵀ with float activations and INT4 weights (W4A16).</summary>
    void LinearW4A16(DeviceBuffer x, DeviceMatrix w, DeviceBuffer y, int rows);

    /// <summary>
    /// Quantizes X[M, K] per row, symmetric: scale = absmax / qmax with qmax = 7 for 4 bits and 127 for 8 bits;
    /// q = clamp(round_even(x · (qmax / absmax)), -qmax, qmax). An all-zero row gets scale 0 and q = 0.
    /// </summary>
    void QuantizeActivations(DeviceBuffer x, int rows, int columns, int bits, QuantizedActivationBuffer q);

    /// <summary>
    /// Y[m, n] = s_a[m] · Σ_g s_w[n, g] · Σ_{k∈g} q_a[m, k] · q_w[n, k], with int32 sums per group (W4A4 / W4A8).
    /// </summary>
    void LinearInt(QuantizedActivationBuffer q, DeviceMatrix w, DeviceBuffer y, int rows);

    /// <summary>
    /// In-place orthonormal Walsh–Hadamard transform of each row of X[M, D], applied blockwise over blocks of
    /// <paramref name="blockSize"/> (a power of two dividing D), scaled by 1/sqrt(blockSize).
    /// </summary>
    void Hadamard(DeviceBuffer x, int rows, int dim, int blockSize);

    /// <summary>
    /// Interleaved rotary embedding, in place, on X[M, heads · headSize]: row m is at position positions[m];
    /// each pair (2i, 2i+1) of a head is rotated by positions[m] · theta^(-2i / headSize).
    /// </summary>
    void Rope(DeviceBuffer x, int rows, int heads, int headSize, ReadOnlySpan<int> positions, float theta);

    /// <summary>
    /// Writes K and V rows [rowOffset, rowOffset + rows) (each kvDim wide) into the caches of one sequence at
    /// positions start .. start + rows - 1. A cache is [layers][capacity][kvDim]; <paramref name="layerOffset"/> = layer · capacity · kvDim.
    /// </summary>
    void StoreKv(DeviceBuffer k, DeviceBuffer v, int rowOffset, int rows, int kvDim,
                 DeviceBuffer keyCache, DeviceBuffer valueCache, long layerOffset, int start);

    /// <summary>
    /// Causal grouped-query attention for rows [rowOffset, rowOffset + rows) of Q[·, heads · headSize], the rows of one
    /// sequence at positions start .. start + rows - 1: query row r attends to cache positions 0 .. start + r.
    /// Query head h reads KV head h / (heads / kvHeads). Output rows go to the same rows of <paramref name="output"/>.
    /// </summary>
    void Attention(DeviceBuffer q, int rowOffset, int rows, int heads, int kvHeads, int headSize,
                   DeviceBuffer keyCache, DeviceBuffer valueCache, long layerOffset, int start, DeviceBuffer output);

    /// <summary>gate[i] = silu(gate[i]) · up[i] for i &lt; length, in place.</summary>
    void SwiGlu(DeviceBuffer gate, DeviceBuffer up, long length);

    /// <summary>x[i] += delta[i] for i &lt; length.</summary>
    void Add(DeviceBuffer x, DeviceBuffer delta, long length);

    /// <summary>Index of the largest of <paramref name="length"/> elements starting at <paramref name="offset"/> (first on ties).</summary>
    int Argmax(DeviceBuffer x, long offset, int length);

    /// <summary>
    /// indices[r] = <see cref="Argmax"/>(x, offset + r · length, length) for each of indices.Length consecutive rows
    /// (the greedy tokens of a batch or of a verify pass). The default is one <see cref="Argmax"/> per row; a device
    /// backend overrides it to launch once and wait for the device once.
    /// </summary>
    void ArgmaxRows(DeviceBuffer x, long offset, int length, Span<int> indices)
    {
        for (int r = 0; r < indices.Length; r++) indices[r] = Argmax(x, offset + (long)r * length, length);
    }

    // ---- token ids kept on the device ----
    // A greedy draft loop feeds each forward's argmax to the next forward. Through the host that is one device wait per
    // draft forward; with these three ops the ids stay in a buffer of the session's and the loop waits once, when it
    // downloads all its drafts. The buffer is an ordinary float buffer holding each id's int32 bits (never read as a
    // float, so no arithmetic touches them); only these ops write and read it.

    /// <summary>
    /// tokens[tokenOffset + r] = <see cref="Argmax"/>(x, offset + r · length, length) for r &lt; <paramref name="rows"/>,
    /// left on the device as int32 bits. The default goes through <see cref="ArgmaxRows"/> and an upload.
    /// </summary>
    void ArgmaxRowsTo(DeviceBuffer x, long offset, int length, int rows, DeviceBuffer tokens, long tokenOffset)
    {
        var ids = new int[rows];
        ArgmaxRows(x, offset, length, ids);
        Upload(System.Runtime.InteropServices.MemoryMarshal.Cast<int, float>(ids), tokens, tokenOffset);
    }

    /// <summary>
    /// X[m, :] = table[tokens[tokenOffset + m], :] for m &lt; <paramref name="rows"/>, with ids written by
    /// <see cref="ArgmaxRowsTo"/>: <see cref="Embedding"/> without the host. The default downloads the ids.
    /// </summary>
    void EmbeddingFrom(DeviceBuffer table, DeviceBuffer tokens, long tokenOffset, int rows, int dim, DeviceBuffer x)
    {
        var ids = new int[rows];
        DownloadTokens(tokens, tokenOffset, ids);
        Embedding(table, ids, dim, x);
    }

    /// <summary>Copies ids written by <see cref="ArgmaxRowsTo"/>, from element <paramref name="offset"/>, to the host (waits for the device).</summary>
    void DownloadTokens(DeviceBuffer tokens, long offset, Span<int> ids) =>
        Download(tokens, System.Runtime.InteropServices.MemoryMarshal.Cast<int, float>(ids), offset);

    // ---- fused ops ----
    // Each equals its composition of the ops above bit for bit (same per-element arithmetic, same reduction order);
    // the default bodies are that composition. A backend overrides one to save a pass over the activations, a
    // dispatch or a launch: one call reads several matrices (QKV), applies an epilogue while the outputs are hot
    // (SwiGLU, the residual add) or quantizes the row it has just normalized.

    /// <summary>Y[M, N] = X[M, K] · Wᵀ with the kernel of <paramref name="kind"/>: X for the float kinds, Q for the integer one.</summary>
    void Linear(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, DeviceMatrix w, DeviceBuffer y, int rows)
    {
        switch (kind)
        {
            case LinearKind.F32: LinearF32(x, w, y, rows); break;
            case LinearKind.W4A16: LinearW4A16(x, w, y, rows); break;
            case LinearKind.Int:
                LinearInt(q ?? throw new ArgumentNullException(nameof(q), "LinearKind.Int reads quantized activations."), w, y, rows);
                break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown linear kind.");
        }
    }

    /// <summary>
    /// outputs[i][M, N_i] = X · weights[i]ᵀ for every i, as one op over the same input (Q, K and V from one call).
    /// </summary>
    void LinearMany(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, ReadOnlySpan<DeviceMatrix> weights,
                    ReadOnlySpan<DeviceBuffer> outputs, int rows)
    {
        if (weights.Length != outputs.Length)
            throw new ArgumentException($"{weights.Length} weights but {outputs.Length} outputs.", nameof(outputs));
        for (int i = 0; i < weights.Length; i++) Linear(kind, x, q, weights[i], outputs[i], rows);
    }

    /// <summary>
    /// gate[M, H] = silu(X · W1ᵀ) ⊙ (X · W3ᵀ): the feed-forward's two up projections and SwiGLU as one op.
    /// <paramref name="up"/> [M, H] is scratch (the W3 product in the composed form); a fused backend may leave it unwritten.
    /// </summary>
    void LinearSwiGlu(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, DeviceMatrix w1, DeviceMatrix w3,
                      DeviceBuffer gate, DeviceBuffer up, int rows)
    {
        Linear(kind, x, q, w1, gate, rows);
        Linear(kind, x, q, w3, up, rows);
        SwiGlu(gate, up, (long)rows * w1.Rows);
    }

    /// <summary>
    /// residual[M, N] += X · Wᵀ: a projection with the residual add as its epilogue. <paramref name="scratch"/> [M, N]
    /// holds the product in the composed form; a fused backend may leave it unwritten.
    /// </summary>
    void LinearAdd(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, DeviceMatrix w, DeviceBuffer residual,
                   DeviceBuffer scratch, int rows)
    {
        Linear(kind, x, q, w, scratch, rows);
        Add(residual, scratch, (long)rows * w.Rows);
    }

    /// <summary>
    /// Y = rmsnorm(X) as <see cref="RmsNorm"/>, then Q = the per-row quantization of Y as <see cref="QuantizeActivations"/>,
    /// in one pass over each row. Y is written too (the float rows stay available).
    /// </summary>
    void RmsNormQuantize(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps, int bits,
                         QuantizedActivationBuffer q)
    {
        RmsNorm(x, weight, y, rows, dim, eps);
        QuantizeActivations(y, rows, dim, bits, q);
    }

    /// <summary>
    /// A layer's attention middle as one op: <see cref="Rope"/> on Q[M, heads · headSize] and K[M, kvHeads · headSize],
    /// then per slice <see cref="StoreKv"/> of its K and V rows and <see cref="Attention"/> of its Q rows into
    /// <paramref name="output"/>. The slices tile the rows in order (slice i owns the next <see cref="KvSlice.Rows"/> rows,
    /// M = Σ Rows) and row j of a slice is at position <see cref="KvSlice.Start"/> + j, so no positions are passed.
    /// The caches and <paramref name="output"/> equal the composition's bit for bit; q and k are consumed (a fused
    /// backend may leave k unrotated).
    /// </summary>
    void RopeStoreKvAttention(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, int heads, int kvHeads, int headSize, float theta,
                              ReadOnlySpan<KvSlice> slices, DeviceBuffer output)
    {
        int rows = 0;
        foreach (var sl in slices) rows += sl.Rows;
        Span<int> positions = rows <= 256 ? stackalloc int[rows] : new int[rows];
        for (int i = 0, r = 0; i < slices.Length; i++)
            for (int j = 0; j < slices[i].Rows; j++) positions[r++] = slices[i].Start + j;
        Rope(q, rows, heads, headSize, positions, theta);
        Rope(k, rows, kvHeads, headSize, positions, theta);
        for (int i = 0, row = 0; i < slices.Length; row += slices[i].Rows, i++)
        {
            var sl = slices[i];
            StoreKv(k, v, row, sl.Rows, kvHeads * headSize, sl.Keys, sl.Values, sl.LayerOffset, sl.Start);
            Attention(q, row, sl.Rows, heads, kvHeads, headSize, sl.Keys, sl.Values, sl.LayerOffset, sl.Start, output);
        }
    }
}

/// <summary>
/// One sequence's part of a <see cref="IBackend.RopeStoreKvAttention"/> call: its next <paramref name="Rows"/> rows at
/// positions <paramref name="Start"/> .. Start + Rows − 1, and the layer of its caches (as <see cref="IBackend.StoreKv"/>).
/// </summary>
public readonly record struct KvSlice(int Rows, int Start, DeviceBuffer Keys, DeviceBuffer Values, long LayerOffset);
