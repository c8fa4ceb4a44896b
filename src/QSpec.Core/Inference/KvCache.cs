using QSpec.Kernels.Backends;
using QSpec.Model;

namespace QSpec.Inference;

/// <summary>
/// The key/value cache of one sequence: K and V [layers][seqLen][kvDim] on the backend, and <see cref="Length"/>,
/// the number of valid positions. Speculative decoding writes draft positions past Length and cuts rejected
/// ones off with <see cref="Truncate"/>; the slots are simply overwritten by later forwards.
/// </summary>
public sealed class KvCache : IDisposable
{
    internal KvCache(IBackend backend, LlamaConfig config, KvPrecision precision)
    {
        Config = config;
        Precision = precision;
        long size = (long)config.Layers * config.SeqLen * config.KvDim;
        Keys = backend.AllocateKv(size, precision);
        Values = backend.AllocateKv(size, precision);
    }

    /// <summary>The model shape.</summary>
    public LlamaConfig Config { get; }
    /// <summary>Element type.</summary>
    public KvPrecision Precision { get; }
    /// <summary>Valid positions 0 .. Length - 1.</summary>
    public int Length { get; internal set; }
    /// <summary>Positions available: the model's context length.</summary>
    public int Capacity => Config.SeqLen;
    /// <summary>Bytes held by K and V.</summary>
    public long SizeInBytes => 2L * Config.Layers * Config.SeqLen * Config.KvDim * (Precision == KvPrecision.Float16 ? 2 : 4);

    internal DeviceBuffer Keys { get; }
    internal DeviceBuffer Values { get; }

    /// <summary>Element offset of layer <paramref name="layer"/> in K and V.</summary>
    internal long LayerOffset(int layer) => (long)layer * Config.SeqLen * Config.KvDim;

    /// <summary>Keeps positions 0 .. <paramref name="length"/> - 1 and forgets the rest.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative or beyond <see cref="Length"/>.</exception>
    public void Truncate(int length)
    {
        if ((uint)length > (uint)Length)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"Truncate length must be in 0..{Length}.");
        Length = length;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Keys.Dispose();
        Values.Dispose();
    }
}
