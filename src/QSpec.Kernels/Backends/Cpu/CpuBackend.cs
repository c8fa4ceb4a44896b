using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// The CPU backend: hand-vectorized kernels (AVX-512F/BW, AVX-VNNI, AVX2) with scalar fallbacks, over host arrays.
/// </summary>
/// <remarks>
/// Every op is batch invariant (a row's result does not depend on M) and independent of the thread count: large linear
/// ops are split over output channels only. Scratch memory is per calling thread, so sessions on different threads may
/// share one backend. Paths: <see cref="CpuBackendOptions.Path"/>; the chosen ones appear in <see cref="Name"/>.
/// The split runs on MaxThreads − 1 worker threads the backend starts on its first parallel op; they spin briefly
/// between ops, then block, and <see cref="Dispose"/> stops them.
/// </remarks>
public sealed class CpuBackend : IBackend
{
    private readonly CpuBackendOptions _options;
    private readonly CpuPaths _paths;
    private readonly LinearFloat _linear;
    private readonly CpuWorkerPool _pool;

    /// <summary>Creates the backend with the best kernels this processor supports, or those <paramref name="options"/> asks for.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="CpuBackendOptions.MaxThreads"/> is not positive.</exception>
    public CpuBackend(CpuBackendOptions? options = null)
    {
        _options = options ?? new CpuBackendOptions();
        if (_options.MaxThreads <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), _options.MaxThreads, "MaxThreads must be positive.");
        _paths = CpuPaths.Resolve(_options.Path);
        _pool = new CpuWorkerPool(_options.MaxThreads);
        _linear = new LinearFloat(_paths, _options, _pool);
    }

    /// <inheritdoc />
    public string Name => $"cpu ({_paths}, {_options.MaxThreads} threads)";

    /// <summary>The float-kernel path in use after fallback (Avx512, Avx2 or Scalar).</summary>
    public CpuKernelPath FloatPath => _paths.Float;

    /// <summary>The integer-kernel path in use after fallback (Avx512, AvxVnni, Avx2 or Scalar).</summary>
    public CpuKernelPath IntPath => _paths.Int;

    private bool Vector => _paths.VectorElementwise;

    /// <inheritdoc />
    public DeviceBuffer Allocate(long length) => new CpuBuffer(length);

    /// <inheritdoc />
    public DeviceBuffer AllocateKv(long length, KvPrecision precision) => new CpuBuffer(length, precision);

    /// <inheritdoc />
    public QuantizedActivationBuffer AllocateQuantizedActivations(int maxRows, int maxColumns) => new CpuQuantizedActivations(maxRows, maxColumns);

    /// <inheritdoc />
    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long offset = 0)
        => source.CopyTo(F(destination).AsSpan((int)offset));

    /// <inheritdoc />
    public void Download(DeviceBuffer source, Span<float> destination, long offset = 0)
        => F(source).AsSpan((int)offset, destination.Length).CopyTo(destination);

    /// <inheritdoc />
    public DeviceMatrix CreateMatrix(Int4Matrix? int4, float[]? dense, int rows, int columns)
    {
        if (int4 is null && dense is null) throw new ArgumentException("A matrix needs INT4 or dense weights.", nameof(int4));
        if (int4 is not null && (int4.Rows != rows || int4.Columns != columns))
            throw new ArgumentException($"INT4 matrix is {int4.Rows}x{int4.Columns}, expected {rows}x{columns}.", nameof(int4));
        if (dense is not null && dense.LongLength != (long)rows * columns)
            throw new ArgumentException($"Dense matrix has {dense.LongLength} elements, expected {(long)rows * columns}.", nameof(dense));
        return new CpuMatrix(int4, dense, rows, columns);
    }

    /// <inheritdoc />
    public void Synchronize() { }

    /// <inheritdoc />
    public void Embedding(DeviceBuffer table, ReadOnlySpan<int> tokens, int dim, DeviceBuffer x)
    {
        var t = F(table); var o = F(x);
        for (int m = 0; m < tokens.Length; m++)
            t.AsSpan(tokens[m] * dim, dim).CopyTo(o.AsSpan(m * dim, dim));
    }

    /// <inheritdoc />
    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps)
        => ElementwiseKernels.RmsNorm(F(x), F(weight), F(y), rows, dim, eps, Vector);

    /// <inheritdoc />
    public void LinearF32(DeviceBuffer x, DeviceMatrix w, DeviceBuffer y, int rows)
    {
        var cm = (CpuMatrix)w;
        var dense = cm.Dense ?? throw new ArgumentException("This matrix has no float32 weights (Fp32 mode).", nameof(w));
        _linear.F32(F(x), rows, dense, w.Rows, w.Columns, F(y));
    }

    /// <inheritdoc />
    public void LinearW4A16(DeviceBuffer x, DeviceMatrix w, DeviceBuffer y, int rows)
        => _linear.W4A16(F(x), rows, Int4Of(w), F(y));

    /// <inheritdoc />
    public void QuantizeActivations(DeviceBuffer x, int rows, int columns, int bits, QuantizedActivationBuffer q)
    {
        ActivationQuantizer.Quantize(F(x), rows, columns, bits, (CpuQuantizedActivations)q, Vector);
    }

    /// <inheritdoc />
    public void RmsNormQuantize(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps, int bits,
                                QuantizedActivationBuffer q)
        => Cpu.RmsNormQuantize.Run(F(x), F(weight), F(y), rows, dim, eps, bits, (CpuQuantizedActivations)q, Vector);

    /// <inheritdoc />
    public void LinearInt(QuantizedActivationBuffer q, DeviceMatrix w, DeviceBuffer y, int rows)
    {
        _ = Int4Of(w);
        LinearIntKernel.Run(_paths, _options, _pool, (CpuQuantizedActivations)q, rows, (CpuMatrix)w, F(y));
    }

    /// <inheritdoc />
    public void Hadamard(DeviceBuffer x, int rows, int dim, int blockSize)
        => HadamardKernel.Transform(F(x), rows, dim, blockSize, Vector);

    /// <inheritdoc />
    public void Rope(DeviceBuffer x, int rows, int heads, int headSize, ReadOnlySpan<int> positions, float theta)
        => RopeKernel.Apply(F(x), rows, heads, headSize, positions, theta, Vector);

    /// <inheritdoc />
    public void StoreKv(DeviceBuffer k, DeviceBuffer v, int rowOffset, int rows, int kvDim,
                        DeviceBuffer keyCache, DeviceBuffer valueCache, long layerOffset, int start)
    {
        var ks = F(k).AsSpan(rowOffset * kvDim, rows * kvDim);
        var vs = F(v).AsSpan(rowOffset * kvDim, rows * kvDim);
        long dst = layerOffset + (long)start * kvDim;
        var kc = (CpuBuffer)keyCache; var vc = (CpuBuffer)valueCache;
        if (kc.Precision == KvPrecision.Float32)
        {
            ks.CopyTo(kc.Span.Slice((int)dst));
            vs.CopyTo(((CpuBuffer)valueCache).Span.Slice((int)dst));
        }
        else
        {
            var kh = kc.HalfData!.AsSpan((int)dst, ks.Length);
            var vh = vc.HalfData!.AsSpan((int)dst, vs.Length);
            for (int i = 0; i < ks.Length; i++) { kh[i] = (Half)ks[i]; vh[i] = (Half)vs[i]; }
        }
    }

    /// <inheritdoc />
    public void Attention(DeviceBuffer q, int rowOffset, int rows, int heads, int kvHeads, int headSize,
                          DeviceBuffer keyCache, DeviceBuffer valueCache, long layerOffset, int start, DeviceBuffer output)
    {
        int width = heads * headSize;
        AttentionKernel.Run(F(q).AsSpan(rowOffset * width, rows * width), rows, heads, kvHeads, headSize, (CpuBuffer)keyCache,
            (CpuBuffer)valueCache, layerOffset, start, F(output).AsSpan(rowOffset * width, rows * width), Vector);
    }

    /// <inheritdoc />
    public void SwiGlu(DeviceBuffer gate, DeviceBuffer up, long length)
        => ElementwiseKernels.SwiGlu(F(gate).AsSpan(0, (int)length), F(up).AsSpan(0, (int)length), Vector);

    /// <inheritdoc />
    public void Add(DeviceBuffer x, DeviceBuffer delta, long length)
        => ElementwiseKernels.Add(F(x).AsSpan(0, (int)length), F(delta).AsSpan(0, (int)length), Vector);

    /// <inheritdoc />
    public int Argmax(DeviceBuffer x, long offset, int length)
        => ElementwiseKernels.Argmax(F(x).AsSpan((int)offset, length), Vector);

    /// <summary>Stops the backend's worker threads.</summary>
    public void Dispose() => _pool.Dispose();

    private static float[] F(DeviceBuffer b) => ((CpuBuffer)b).Data ?? throw new ObjectDisposedException(nameof(DeviceBuffer));

    private static Int4Matrix Int4Of(DeviceMatrix w)
        => ((CpuMatrix)w).Int4 ?? throw new ArgumentException("This matrix has no INT4 weights (quantize the model first).", nameof(w));
}
