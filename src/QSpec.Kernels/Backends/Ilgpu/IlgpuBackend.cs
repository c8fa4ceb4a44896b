using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// The GPU backend: the op set as ILGPU kernels over device buffers, on CUDA or (for tests) on ILGPU's CPU
/// accelerator. Weights, KV caches and activations stay on the device; a forward uploads only its token ids (the fused
/// attention derives positions from each sequence's start) and nothing in it waits for the device: <see cref="Argmax"/>
/// (or a logits download) at the end is the one host sync. Ops are queued on the accelerator's default stream, in order.
/// The fused ops are single launches (IlgpuBackend.Fused.cs): 7 kernels per layer for a W4A16 token.
/// </summary>
public sealed partial class IlgpuBackend : IBackend
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly AcceleratorStream _stream;
    private readonly KernelSet _kernels;
    private readonly DeviceIndices _tokens = new();             // the token ids of the last Embedding
    private readonly DeviceIndices _positions = new();          // the positions of the last plain Rope
    private MemoryBuffer1D<float, Stride1D.Dense>? _ropeTable;
    private (float Theta, int HeadSize, int Positions) _ropeKey;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _argmaxResult; // MaxArgmaxRows indices
    private const int MaxArgmaxRows = 256;                      // rows per ArgmaxRows launch; longer calls are chunked
    private bool _disposed;
    private readonly long? _memoryLimit;                        // the simulated device's memory, null on CUDA
    private readonly List<MemoryBuffer> _live = [];             // every allocation, for LiveDeviceBytes
    private int _pruneAt = 64;

    private IlgpuBackend(Context context, Accelerator accelerator, long? memoryLimit = null)
    {
        _context = context;
        _accelerator = accelerator;
        _memoryLimit = memoryLimit;
        try
        {
            _stream = accelerator.DefaultStream;
            _kernels = new KernelSet(accelerator);
            _argmaxResult = AllocateDevice<int>(MaxArgmaxRows);
            Name = accelerator.AcceleratorType == AcceleratorType.Cuda
                ? $"cuda ({accelerator.Name})"
                : $"ilgpu-cpu ({accelerator.Name}, warp {accelerator.WarpSize}, group ≤ {accelerator.MaxNumThreadsPerGroup})";
        }
        catch
        {
            accelerator.Dispose();
            context.Dispose();
            throw;
        }
    }

    /// <summary>A backend on CUDA device <paramref name="deviceIndex"/>.</summary>
    /// <exception cref="InvalidOperationException">No such CUDA device.</exception>
    public static IlgpuBackend CreateCuda(int deviceIndex = 0)
    {
        var context = Context.Create(b => b.Cuda().EnableAlgorithms());
        try
        {
            int count = context.GetCudaDevices().Count;
            if (deviceIndex < 0 || deviceIndex >= count)
                throw new InvalidOperationException($"CUDA device {deviceIndex} requested but {count} CUDA device(s) were found.");
            return new IlgpuBackend(context, context.CreateCudaAccelerator(deviceIndex));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A backend on ILGPU's CPU accelerator, simulating the device described by <paramref name="options"/> (default:
    /// see <see cref="IlgpuSimulatorOptions"/>). Slow (threads are simulated); meant for tests of the kernels without a GPU.
    /// </summary>
    public static IlgpuBackend CreateCpuSimulator(IlgpuSimulatorOptions? options = null)
    {
        options ??= new IlgpuSimulatorOptions();
        var device = options.CreateDevice();
        var context = Context.Create(b => b.CPU(device).EnableAlgorithms());
        try
        {
            return new IlgpuBackend(context, device.CreateCPUAccelerator(context, options.Mode), options.MemoryBytes);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>True when running on a CUDA GPU (dp4a and mul.rn inline PTX active).</summary>
    public bool IsCuda => _accelerator.AcceleratorType == AcceleratorType.Cuda;

    /// <inheritdoc />
    public DeviceBuffer Allocate(long length)
    {
        using var _ = Enter();
        return new IlgpuBuffer(length, AllocateDevice<float>(length));
    }

    /// <inheritdoc />
    public DeviceBuffer AllocateKv(long length, KvPrecision precision)
    {
        using var _ = Enter();
        return precision == KvPrecision.Float16
            ? new IlgpuBuffer(length, AllocateDevice<ushort>(length))
            : new IlgpuBuffer(length, AllocateDevice<float>(length));
    }

    /// <inheritdoc />
    public QuantizedActivationBuffer AllocateQuantizedActivations(int maxRows, int maxColumns)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxColumns);
        using var _ = Enter();
        var values = AllocateDevice<int>((long)maxRows * Int4Matrix.PadColumns(maxColumns) / 4);
        try
        {
            return new IlgpuQuantizedActivations(maxRows, maxColumns, values, AllocateDevice<float>(maxRows));
        }
        catch
        {
            values.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long offset = 0)
    {
        var b = Buffer(destination);
        CheckRange(b, offset, source.Length, nameof(offset));
        if (source.IsEmpty) return;
        using var _ = Enter();
        if (b.Precision == KvPrecision.Float32)
        {
            CopyToDevice(source, b.Floats.SubView(offset));
            return;
        }
        var bits = new ushort[source.Length];
        for (int i = 0; i < bits.Length; i++) bits[i] = HalfBits.FromFloat(source[i]);
        CopyToDevice<ushort>(bits, b.Halves.SubView(offset));
    }

    /// <inheritdoc />
    public void Download(DeviceBuffer source, Span<float> destination, long offset = 0)
    {
        var b = Buffer(source);
        CheckRange(b, offset, destination.Length, nameof(offset));
        if (destination.IsEmpty) return;
        using var _ = Enter();
        if (b.Precision == KvPrecision.Float32)
        {
            CopyToHost(b.Floats.SubView(offset), destination);
            return;
        }
        var bits = new ushort[destination.Length];
        CopyToHost<ushort>(b.Halves.SubView(offset), bits);
        for (int i = 0; i < bits.Length; i++) destination[i] = HalfBits.ToFloat(bits[i]);
    }

    /// <inheritdoc />
    public DeviceMatrix CreateMatrix(Int4Matrix? int4, float[]? dense, int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        if (int4 is null && dense is null) throw new ArgumentException("A matrix needs INT4 or dense weights.", nameof(int4));
        if (int4 is not null && (int4.Rows != rows || int4.Columns != columns))
            throw new ArgumentException($"INT4 matrix is {int4.Rows}x{int4.Columns}, expected {rows}x{columns}.", nameof(int4));
        if (dense is not null && dense.LongLength != (long)rows * columns)
            throw new ArgumentException($"Dense matrix has {dense.LongLength} elements, expected {(long)rows * columns}.", nameof(dense));
        using var _ = Enter();
        var owned = new List<MemoryBuffer>();
        try
        {
            MemoryBuffer1D<uint, Stride1D.Dense>? packed = null;
            MemoryBuffer1D<float, Stride1D.Dense>? scales = null, denseBuffer = null;
            if (int4 is not null)
            {
                // RowBytes = PaddedColumns / 2 is a multiple of 32, so rows are whole 32-bit words.
                var words = MemoryMarshal.Cast<byte, uint>(int4.Data.AsSpan());
                owned.Add(packed = AllocateDevice<uint>(words.Length));
                CopyToDevice<uint>(words, packed.View);
                owned.Add(scales = AllocateDevice<float>(int4.Scales.Length));
                CopyToDevice<float>(int4.Scales, scales.View);
            }
            if (dense is not null)
            {
                owned.Add(denseBuffer = AllocateDevice<float>(dense.LongLength));
                CopyToDevice<float>(dense, denseBuffer.View);
            }
            _stream.Synchronize();
            HostSyncs++;
            return new IlgpuMatrix(rows, columns, int4?.GroupSize ?? 0, packed, scales, denseBuffer);
        }
        catch
        {
            foreach (var b in owned) b.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Synchronize()
    {
        using var _ = Enter();
        _stream.Synchronize();
        HostSyncs++;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        using var _ = _gate.EnterScope();
        if (_disposed) return;
        _disposed = true;
        _tokens.Dispose();
        _positions.Dispose();
        _ropeTable?.Dispose();
        _argmaxResult.Dispose();
        _splitPartials?.Dispose();
        _accelerator.Dispose(); // also releases any buffer the caller has not disposed
        _context.Dispose();
    }

    /// <summary>A zeroed device allocation; device out-of-memory becomes <see cref="DeviceOutOfMemoryException"/>.</summary>
    private MemoryBuffer1D<T, Stride1D.Dense> AllocateDevice<T>(long length) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        long bytes = Math.Max(length, 1) * Marshal.SizeOf<T>();
        if (_memoryLimit is long limit && LiveDeviceBytes + bytes > limit)
            throw new DeviceOutOfMemoryException(_accelerator.Name, bytes, limit);
        MemoryBuffer1D<T, Stride1D.Dense>? buffer = null;
        try
        {
            buffer = _accelerator.Allocate1D<T>(Math.Max(length, 1));
            buffer.MemSetToZero(_stream);
            _live.Add(buffer);
            if (_live.Count >= _pruneAt)
            {
                _live.RemoveAll(b => b.IsDisposed);
                _pruneAt = Math.Max(64, 2 * _live.Count);
            }
            return buffer;
        }
        catch (Exception e) when (IsOutOfMemory(e))
        {
            buffer?.Dispose();
            throw new DeviceOutOfMemoryException(_accelerator.Name, bytes, _memoryLimit ?? _accelerator.MemorySize, e);
        }
    }

    /// <summary>
    /// Bytes of device buffers allocated by this backend and not yet disposed (weights, caches, activations and the
    /// backend's own reusable buffers). Enforced against <see cref="IlgpuSimulatorOptions.MemoryBytes"/> on the simulator.
    /// </summary>
    internal long LiveDeviceBytes
    {
        get
        {
            using var _ = _gate.EnterScope();
            _live.RemoveAll(b => b.IsDisposed);
            return _live.Sum(b => b.LengthInBytes);
        }
    }

    private static bool IsOutOfMemory(Exception e) => e switch
    {
        OutOfMemoryException => true,
        CudaException cuda => cuda.Error?.Contains("OUT_OF_MEMORY", StringComparison.Ordinal) == true,
        AggregateException aggregate => aggregate.InnerExceptions.Any(IsOutOfMemory),
        _ => e.InnerException is not null && IsOutOfMemory(e.InnerException),
    };

    /// <summary>
    /// Uploads ints (token ids or positions) to their reusable buffer, ordered with the ops on the stream; skipped when
    /// the buffer already holds exactly these values. A forward uploads its token ids once (the fused attention derives
    /// positions from each sequence's start, so none are uploaded); a plain <see cref="Rope"/> call uploads its positions
    /// once for any number of calls with the same positions.
    /// </summary>
    private ArrayView<int> UploadIndices(DeviceIndices indices, ReadOnlySpan<int> values)
    {
        if (indices.Buffer is null || indices.Buffer.Length < values.Length)
        {
            ReleaseAfterQueuedWork(indices.Detach());
            indices.Replace(AllocateDevice<int>(Math.Max(values.Length, 64)));
        }
        var view = indices.Buffer!.View.SubView(0, values.Length);
        if (indices.Holds(values)) return view;
        CopyToDevice(values, view);
        indices.Record(values);
        return view;
    }

    /// <summary>Frees a scratch buffer that queued kernels may still read (growth is rare, so waiting is cheap).</summary>
    private void ReleaseAfterQueuedWork(MemoryBuffer? buffer)
    {
        if (buffer is null) return;
        _stream.Synchronize();
        HostSyncs++;
        buffer.Dispose();
    }

    private static IlgpuBuffer Buffer(DeviceBuffer b)
    {
        if (b is not IlgpuBuffer ib) throw new ArgumentException($"Buffer of type {b.GetType().Name} does not belong to an ILGPU backend.", nameof(b));
        ObjectDisposedException.ThrowIf(ib.IsDisposed, ib);
        return ib;
    }

    private static ArrayView<float> F(DeviceBuffer b) => Buffer(b).Floats;

    private static void CheckRange(DeviceBuffer b, long offset, long count, string name)
    {
        if (offset < 0 || offset + count > b.Length)
            throw new ArgumentOutOfRangeException(name, offset, $"Range [{offset}, {offset + count}) is outside a buffer of {b.Length} elements.");
    }
}
