using ILGPU;
using ILGPU.Runtime;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// A device buffer: float32 elements, or IEEE binary16 bits (<see cref="ushort"/>, see <see cref="HalfBits"/>) for an
/// FP16 KV cache. Exactly one of the two storages is set.
/// </summary>
internal sealed class IlgpuBuffer : DeviceBuffer
{
    private MemoryBuffer1D<float, Stride1D.Dense>? _floats;
    private MemoryBuffer1D<ushort, Stride1D.Dense>? _halves;

    internal IlgpuBuffer(long length, MemoryBuffer1D<float, Stride1D.Dense> floats) : base(length)
    {
        _floats = floats;
        Precision = KvPrecision.Float32;
    }

    internal IlgpuBuffer(long length, MemoryBuffer1D<ushort, Stride1D.Dense> halves) : base(length)
    {
        _halves = halves;
        Precision = KvPrecision.Float16;
    }

    /// <summary>Element type.</summary>
    public KvPrecision Precision { get; }

    internal ArrayView<float> Floats => (_floats ?? throw Missing()).View;

    internal ArrayView<ushort> Halves => (_halves ?? throw Missing()).View;

    private InvalidOperationException Missing() => IsDisposed
        ? new ObjectDisposedException(nameof(IlgpuBuffer))
        : new InvalidOperationException($"This buffer holds {Precision} elements.");

    /// <inheritdoc />
    protected override void DisposeCore()
    {
        _floats?.Dispose();
        _halves?.Dispose();
        _floats = null;
        _halves = null;
    }
}

/// <summary>
/// A device weight matrix: the INT4 nibbles as 32-bit words (RowBytes / 4 per row, same byte order as
/// <see cref="Formats.Int4Matrix.Data"/>, little-endian), the scales, and/or dense float32 W[N, K].
/// </summary>
internal sealed class IlgpuMatrix : DeviceMatrix
{
    private readonly MemoryBuffer1D<uint, Stride1D.Dense>? _packed;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _scales;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _dense;

    internal IlgpuMatrix(int rows, int columns, int groupSize,
                         MemoryBuffer1D<uint, Stride1D.Dense>? packed, MemoryBuffer1D<float, Stride1D.Dense>? scales,
                         MemoryBuffer1D<float, Stride1D.Dense>? dense)
        : base(rows, columns, packed is not null, dense is not null)
    {
        _packed = packed;
        _scales = scales;
        _dense = dense;
        GroupSize = groupSize;
        PaddedColumns = Formats.Int4Matrix.PadColumns(columns);
        GroupCount = groupSize == 0 ? 1 : (columns + groupSize - 1) / groupSize;
    }

    /// <summary>Columns per INT4 scale (0 = per channel).</summary>
    public int GroupSize { get; }
    /// <summary>K rounded up to 64.</summary>
    public int PaddedColumns { get; }
    /// <summary>Scales per row.</summary>
    public int GroupCount { get; }

    internal ArrayView<uint> Packed => (_packed ?? throw new ArgumentException("This matrix has no INT4 weights (quantize the model first).")).View;
    internal ArrayView<float> Scales => _scales!.View;
    internal ArrayView<float> Dense => (_dense ?? throw new ArgumentException("This matrix has no float32 weights (Fp32 mode).")).View;

    /// <inheritdoc />
    protected override void DisposeCore()
    {
        _packed?.Dispose();
        _scales?.Dispose();
        _dense?.Dispose();
    }
}

/// <summary>
/// Device per-token quantized activations: four signed bytes per 32-bit word (column 4j + t in byte t of word j),
/// row m of a K-column call at words [m·Kp/4, (m+1)·Kp/4), and one float scale per row.
/// </summary>
internal sealed class IlgpuQuantizedActivations : QuantizedActivationBuffer
{
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _values;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _scales;

    internal IlgpuQuantizedActivations(int maxRows, int maxColumns,
                                       MemoryBuffer1D<int, Stride1D.Dense> values, MemoryBuffer1D<float, Stride1D.Dense> scales)
        : base(maxRows, maxColumns)
    {
        _values = values;
        _scales = scales;
    }

    internal ArrayView<int> Values => _values.View;
    internal ArrayView<float> Scales => _scales.View;

    /// <inheritdoc />
    protected override void DisposeCore()
    {
        _values.Dispose();
        _scales.Dispose();
    }
}
