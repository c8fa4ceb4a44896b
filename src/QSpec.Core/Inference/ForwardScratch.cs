using QSpec.Kernels.Backends;
using QSpec.Model;

namespace QSpec.Inference;

/// <summary>
/// The activation buffers of one forward pass, sized for <see cref="MaxRows"/> positions. Owned by a session
/// (or a batch of sessions) and reused by every forward; never shared between threads.
/// </summary>
internal sealed class ForwardScratch : IDisposable
{
    public ForwardScratch(IBackend backend, LlamaConfig c, int maxRows)
    {
        MaxRows = maxRows;
        // When one allocation fails (out of device memory, say) the ones before it are freed, not leaked.
        var made = new List<IDisposable>();
        T Keep<T>(T buffer) where T : IDisposable { made.Add(buffer); return buffer; }
        try
        {
            X = Keep(backend.Allocate((long)maxRows * c.Dim));
            Xb = Keep(backend.Allocate((long)maxRows * c.Dim));
            Xb2 = Keep(backend.Allocate((long)maxRows * c.Dim));
            Q = Keep(backend.Allocate((long)maxRows * c.Dim));
            K = Keep(backend.Allocate((long)maxRows * c.KvDim));
            V = Keep(backend.Allocate((long)maxRows * c.KvDim));
            Hb = Keep(backend.Allocate((long)maxRows * c.HiddenDim));
            Hb2 = Keep(backend.Allocate((long)maxRows * c.HiddenDim));
            Logits = Keep(backend.Allocate((long)maxRows * c.VocabSize));
            Quantized = Keep(backend.AllocateQuantizedActivations(maxRows, Math.Max(c.Dim, c.HiddenDim)));
            DeviceTokens = Keep(backend.Allocate(maxRows));
        }
        catch
        {
            foreach (var b in made) b.Dispose();
            throw;
        }
    }

    public int MaxRows { get; }
    /// <summary>Residual stream [M, D].</summary>
    public DeviceBuffer X { get; }
    /// <summary>Normalized input / attention output [M, D].</summary>
    public DeviceBuffer Xb { get; }
    /// <summary>Projection output [M, D].</summary>
    public DeviceBuffer Xb2 { get; }
    /// <summary>Queries [M, D].</summary>
    public DeviceBuffer Q { get; }
    /// <summary>Keys [M, KvDim].</summary>
    public DeviceBuffer K { get; }
    /// <summary>Values [M, KvDim].</summary>
    public DeviceBuffer V { get; }
    /// <summary>Gate / SwiGLU output [M, H].</summary>
    public DeviceBuffer Hb { get; }
    /// <summary>Up projection [M, H].</summary>
    public DeviceBuffer Hb2 { get; }
    /// <summary>Logits [M, V].</summary>
    public DeviceBuffer Logits { get; }
    /// <summary>Per-token quantized activations for the draft modes.</summary>
    public QuantizedActivationBuffer Quantized { get; }
    /// <summary>
    /// Token ids kept on the device [MaxRows] (int32 bits, see <see cref="IBackend.ArgmaxRowsTo"/>): a greedy draft loop's
    /// drafts, draft i of the loop's m rows at i · m (B sequences × k drafts ≤ B · (k + 1) ≤ MaxRows).
    /// </summary>
    public DeviceBuffer DeviceTokens { get; }

    private KvSlice[] _kvSlices = [];

    /// <summary>A reused array of <paramref name="count"/> KV slices for one forward (no allocation per token once it has grown).</summary>
    public Span<KvSlice> KvSlices(int count)
    {
        if (_kvSlices.Length < count) _kvSlices = new KvSlice[count];
        return _kvSlices.AsSpan(0, count);
    }

    public void Dispose()
    {
        // Also called from a failed constructor, so some buffers may be missing.
        foreach (var b in new[] { X, Xb, Xb2, Q, K, V, Hb, Hb2, Logits, DeviceTokens }) b?.Dispose();
        Quantized?.Dispose();
    }
}

/// <summary>Rows Start .. Start + Count - 1 of one sequence inside a batched forward.</summary>
internal readonly record struct SequenceSlice(KvCache Cache, int Start, int Count);
