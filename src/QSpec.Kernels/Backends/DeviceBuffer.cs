namespace QSpec.Kernels.Backends;

/// <summary>
/// A float32 buffer owned by one backend (host memory for the CPU backend, device memory for ILGPU).
/// Ops take buffers of their own backend only. Disposing frees the memory.
/// </summary>
public abstract class DeviceBuffer : IDisposable
{
    /// <summary>Creates a buffer handle of <paramref name="length"/> elements.</summary>
    protected DeviceBuffer(long length) => Length = length;

    /// <summary>Number of elements.</summary>
    public long Length { get; }

    /// <summary>Whether the buffer has been disposed.</summary>
    public bool IsDisposed { get; private set; }

    /// <inheritdoc />
    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        DisposeCore();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the backend memory.</summary>
    protected abstract void DisposeCore();
}

/// <summary>Element type of a KV cache.</summary>
public enum KvPrecision
{
    /// <summary>32-bit floats (default; exact).</summary>
    Float32,
    /// <summary>IEEE half precision, halving cache memory (the paper's FP16 KV cache).</summary>
    Float16,
}

/// <summary>
/// A backend-resident weight matrix: INT4 (<see cref="Formats.Int4Matrix"/>) and/or dense float32 W[N, K].
/// One handle serves every execution mode that its contents allow; there is never a second INT4 copy.
/// </summary>
public abstract class DeviceMatrix : IDisposable
{
    /// <summary>Creates a handle.</summary>
    protected DeviceMatrix(int rows, int columns, bool hasInt4, bool hasDense)
    {
        Rows = rows; Columns = columns; HasInt4 = hasInt4; HasDense = hasDense;
    }

    /// <summary>N, output channels.</summary>
    public int Rows { get; }
    /// <summary>K, input columns.</summary>
    public int Columns { get; }
    /// <summary>True when INT4 weights are present (W4A16, W4A4, W4A8 modes).</summary>
    public bool HasInt4 { get; }
    /// <summary>True when dense float32 weights are present (Fp32 mode).</summary>
    public bool HasDense { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        DisposeCore();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the backend memory.</summary>
    protected abstract void DisposeCore();
}
