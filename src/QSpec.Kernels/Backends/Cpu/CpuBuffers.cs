using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>A host buffer: float32 in <see cref="Data"/>, or half precision in <see cref="HalfData"/> for an FP16 KV cache.</summary>
public sealed class CpuBuffer : DeviceBuffer
{
    internal CpuBuffer(long length, KvPrecision precision = KvPrecision.Float32) : base(length)
    {
        Precision = precision;
        if (precision == KvPrecision.Float16) HalfData = new Half[checked((int)length)];
        else Data = GC.AllocateArray<float>(checked((int)length), pinned: true);
    }

    /// <summary>Element type.</summary>
    public KvPrecision Precision { get; }
    /// <summary>Float32 storage (null for FP16 buffers).</summary>
    public float[]? Data { get; private set; }
    /// <summary>Half storage (null for float32 buffers).</summary>
    public Half[]? HalfData { get; private set; }

    /// <summary>The float32 storage as a span.</summary>
    public Span<float> Span => Data ?? throw new InvalidOperationException("This buffer holds FP16 values.");

    /// <inheritdoc />
    protected override void DisposeCore() { Data = null; HalfData = null; }
}

/// <summary>A CPU weight handle: references to the INT4 matrix and/or the dense array, never a copy.</summary>
public sealed class CpuMatrix : DeviceMatrix
{
    internal CpuMatrix(Int4Matrix? int4, float[]? dense, int rows, int columns)
        : base(rows, columns, int4 is not null, dense is not null)
    {
        Int4 = int4;
        Dense = dense;
    }

    /// <summary>The INT4 weights, shared with every mode.</summary>
    public Int4Matrix? Int4 { get; }
    /// <summary>Dense W[N, K] (Fp32 mode).</summary>
    public float[]? Dense { get; }

    /// <inheritdoc />
    protected override void DisposeCore() { }
}

/// <summary>Host per-token quantized activations.</summary>
public sealed class CpuQuantizedActivations : QuantizedActivationBuffer
{
    internal CpuQuantizedActivations(int maxRows, int maxColumns) : base(maxRows, maxColumns)
    {
        Values = GC.AllocateArray<sbyte>(checked(maxRows * PaddedColumns), pinned: true);
        Scales = new float[maxRows];
    }

    /// <summary>q[m, k], row stride pad64(K) of the current call.</summary>
    public sbyte[] Values { get; }
    /// <summary>One scale per row.</summary>
    public float[] Scales { get; }

    /// <inheritdoc />
    protected override void DisposeCore() { }
}
