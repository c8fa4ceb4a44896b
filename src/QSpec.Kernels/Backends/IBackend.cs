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
}
