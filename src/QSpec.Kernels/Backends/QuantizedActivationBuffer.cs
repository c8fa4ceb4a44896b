namespace QSpec.Kernels.Backends;

/// <summary>
/// Per-token quantized activations X[M, K] on a backend: integers q[m, k] (INT4 values in [-7, 7] or INT8
/// values in [-127, 127], one signed byte each) and one float scale per row, x ≈ q · scale.
/// For a call with K columns, row m occupies entries [m·Kp, (m+1)·Kp) with Kp = K rounded up to 64, and the
/// padding entries are zero. Allocated once per session for the largest M and K it will see.
/// </summary>
public abstract class QuantizedActivationBuffer : IDisposable
{
    /// <summary>Creates a handle.</summary>
    protected QuantizedActivationBuffer(int maxRows, int maxColumns)
    {
        MaxRows = maxRows;
        MaxColumns = maxColumns;
        PaddedColumns = Formats.Int4Matrix.PadColumns(maxColumns);
    }

    /// <summary>Largest M.</summary>
    public int MaxRows { get; }
    /// <summary>Largest K.</summary>
    public int MaxColumns { get; }
    /// <summary>Max K rounded up to 64 (capacity per row).</summary>
    public int PaddedColumns { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        DisposeCore();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the backend memory.</summary>
    protected abstract void DisposeCore();
}
