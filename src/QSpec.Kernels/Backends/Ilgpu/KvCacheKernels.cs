using ILGPU;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>Element access to a KV cache, so one kernel body serves float32 and FP16 caches.</summary>
internal interface ICacheView
{
    /// <summary>Element i widened to float.</summary>
    float Load(long i);
    /// <summary>Stores element i (rounded to the cache precision).</summary>
    void Store(long i, float value);
    /// <summary>What <see cref="Load"/> returns after <see cref="Store"/> of <paramref name="value"/>: the value rounded to the cache precision.</summary>
    float Round(float value);
}

/// <summary>A float32 cache.</summary>
internal struct F32Cache(ArrayView<float> view) : ICacheView
{
    private ArrayView<float> _view = view;

    /// <inheritdoc />
    public readonly float Load(long i) => _view[i];

    /// <inheritdoc />
    public readonly void Store(long i, float value) => _view[i] = value;

    /// <inheritdoc />
    public readonly float Round(float value) => value;
}

/// <summary>An FP16 cache of binary16 bits (round to nearest even on store).</summary>
internal struct F16Cache(ArrayView<ushort> view) : ICacheView
{
    private ArrayView<ushort> _view = view;

    /// <inheritdoc />
    public readonly float Load(long i) => HalfBits.ToFloat(_view[i]);

    /// <inheritdoc />
    public readonly void Store(long i, float value) => _view[i] = HalfBits.FromFloat(value);

    /// <inheritdoc />
    public readonly float Round(float value) => HalfBits.ToFloat(HalfBits.FromFloat(value));
}

/// <summary>StoreKv: copies K and V rows into the caches of one sequence (one thread per element).</summary>
internal static class KvCacheKernels
{
    /// <summary>cache[destination + i] = rows[source + i] for K and V (auto-grouped over rows · kvDim).</summary>
    public static void Store<TCache>(Index1D i, ArrayView<float> k, ArrayView<float> v, TCache keys, TCache values,
                                     long source, long destination)
        where TCache : struct, ICacheView
    {
        keys.Store(destination + i, k[source + i]);
        values.Store(destination + i, v[source + i]);
    }
}
