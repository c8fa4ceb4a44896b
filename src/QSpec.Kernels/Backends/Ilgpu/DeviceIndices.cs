using ILGPU;
using ILGPU.Runtime;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// A reusable device buffer of ints (token ids, or positions) with the host's copy of what it holds, so that an upload
/// of the values it already holds is skipped. One per kind of index, so that a forward's token upload and a plain RoPE
/// call's positions never evict each other. Used under the backend's gate.
/// </summary>
internal sealed class DeviceIndices : IDisposable
{
    private MemoryBuffer1D<int, Stride1D.Dense>? _buffer;
    private int[] _host = [];
    private int _count = -1;

    /// <summary>The buffer, or null before the first upload.</summary>
    public MemoryBuffer1D<int, Stride1D.Dense>? Buffer => _buffer;

    /// <summary>True when the buffer already holds exactly <paramref name="values"/>.</summary>
    public bool Holds(ReadOnlySpan<int> values) =>
        _buffer is not null && _count == values.Length && values.SequenceEqual(_host.AsSpan(0, values.Length));

    /// <summary>Gives up the buffer (the caller releases it once queued work is done); the cache then holds nothing.</summary>
    public MemoryBuffer1D<int, Stride1D.Dense>? Detach()
    {
        var b = _buffer;
        _buffer = null;
        _count = -1;
        return b;
    }

    /// <summary>Takes a new, larger buffer (after <see cref="Detach"/>).</summary>
    public void Replace(MemoryBuffer1D<int, Stride1D.Dense> buffer)
    {
        _buffer = buffer;
        _host = new int[buffer.Length];
        _count = -1;
    }

    /// <summary>Records that the buffer now holds <paramref name="values"/> (after the caller queued their upload).</summary>
    public void Record(ReadOnlySpan<int> values)
    {
        values.CopyTo(_host);
        _count = values.Length;
    }

    public void Dispose()
    {
        _buffer?.Dispose();
        _buffer = null;
    }
}
