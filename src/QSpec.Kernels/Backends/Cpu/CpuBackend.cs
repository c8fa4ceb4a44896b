using System.Runtime.CompilerServices;
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
/// between ops, then block, and <see cref="Dispose"/> stops them. The fused linear ops (LinearMany, LinearSwiGlu,
/// LinearAdd) run all their matrices in one dispatch with the epilogue per channel range (<see cref="ChannelJobs"/>).
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
        // The streaming tiles read static switches (CpuPrefetch.ToL1 in their loops, LinearIntAvx512.PrefetchScales). A tile
        // JIT-compiled before such a class is initialized gets a static-base helper call; every vector register is
        // caller-saved, so the register allocator then spills the tile's accumulators around it. Measured: the first tile
        // compiled in a process (the prompt's M >= 2 tile, the verify's) ran ~1.5x slower for the life of the process
        // (docs/results.md, eleventh round; benchmarks/scripts/check-tile-jit.sh). Initialized here, before any kernel runs.
        RuntimeHelpers.RunClassConstructor(typeof(CpuPrefetch).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(LinearIntAvx512).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(DenormalFloats).TypeHandle); // its one-time probe (~1 ms), on this thread
        _pool = new CpuWorkerPool(_options.MaxThreads);
        _linear = new LinearFloat(_paths, _options, _pool);
    }

    /// <inheritdoc />
    public string Name => $"cpu ({_paths}, w4a16 {_linear.W4A16Form}, {_options.MaxThreads} threads)";

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
        long vocab = t.LongLength / dim;
        foreach (int id in tokens)
            if ((uint)id >= vocab) throw new ArgumentOutOfRangeException(nameof(tokens), id, $"Token id outside the vocabulary of {vocab}.");
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
        if (cm.Dense is null) throw new ArgumentException("This matrix has no float32 weights (Fp32 mode).", nameof(w));
        _linear.F32(F(x), rows, cm, F(y));
    }

    /// <inheritdoc />
    public void LinearW4A16(DeviceBuffer x, DeviceMatrix w, DeviceBuffer y, int rows)
        => _linear.W4A16(F(x), rows, Int4Of(w), F(y), ((CpuMatrix)w).HalfScaleBits);

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
        => AttentionKernel.Run(_pool, _options, F(q), rowOffset * heads * headSize, rows, heads, kvHeads, headSize, (CpuBuffer)keyCache,
            (CpuBuffer)valueCache, layerOffset, start, F(output), Vector);

    /// <inheritdoc />
    public void SwiGlu(DeviceBuffer gate, DeviceBuffer up, long length)
        => ElementwiseKernels.SwiGlu(F(gate).AsSpan(0, (int)length), F(up).AsSpan(0, (int)length), Vector);

    /// <inheritdoc />
    public void Add(DeviceBuffer x, DeviceBuffer delta, long length)
        => ElementwiseKernels.Add(F(x).AsSpan(0, (int)length), F(delta).AsSpan(0, (int)length), Vector);

    /// <inheritdoc />
    public int Argmax(DeviceBuffer x, long offset, int length)
        => ElementwiseKernels.Argmax(F(x).AsSpan((int)offset, length), Vector);

    // Token ids kept "on the device" are int32 bits in the buffer's floats: on the CPU that is a reinterpreting view.

    /// <inheritdoc />
    public void ArgmaxRowsTo(DeviceBuffer x, long offset, int length, int rows, DeviceBuffer tokens, long tokenOffset)
    {
        var ids = Ids(tokens, tokenOffset, rows);
        for (int r = 0; r < rows; r++) ids[r] = Argmax(x, offset + (long)r * length, length);
    }

    /// <inheritdoc />
    public void EmbeddingFrom(DeviceBuffer table, DeviceBuffer tokens, long tokenOffset, int rows, int dim, DeviceBuffer x)
        // Embedding checks the ids: on the CPU a bad one is an exception, not a read past the table.
        => Embedding(table, Ids(tokens, tokenOffset, rows), dim, x);

    /// <inheritdoc />
    public void DownloadTokens(DeviceBuffer tokens, long offset, Span<int> ids) => Ids(tokens, offset, ids.Length).CopyTo(ids);

    private static Span<int> Ids(DeviceBuffer tokens, long offset, int count) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(F(tokens).AsSpan(checked((int)offset), count));

    // ---- fused ops: the linear calls' channel jobs run in one dispatch with their epilogue (see ChannelJobs) ----

    [ThreadStatic] private static ChannelJobs? t_jobs;

    /// <inheritdoc />
    public void LinearMany(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, ReadOnlySpan<DeviceMatrix> weights,
                           ReadOnlySpan<DeviceBuffer> outputs, int rows)
    {
        if (weights.Length != outputs.Length)
            throw new ArgumentException($"{weights.Length} weights but {outputs.Length} outputs.", nameof(outputs));
        Span<int> channels = weights.Length <= 16 ? stackalloc int[weights.Length] : new int[weights.Length];
        long total = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            total += channels[i] = weights[i].Rows;
            if (weights[i].Columns != weights[0].Columns) // not one input: the drivers' per-thread padded X would differ between captured jobs
            {
                for (int j = 0; j < weights.Length; j++) LinearOf(kind, x, q, weights[j], outputs[j], rows);
                return;
            }
        }
        var jobs = Capture(kind, x, q, weights, outputs, rows);
        int threads = weights.IsEmpty ? 1 : Threads(rows, total, weights[0].Columns);
        if (jobs.Matches(channels)) jobs.RunConcatenated(threads);
        else jobs.RunSequential(threads);
    }

    /// <inheritdoc />
    public void LinearSwiGlu(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, DeviceMatrix w1, DeviceMatrix w3,
                             DeviceBuffer gate, DeviceBuffer up, int rows)
    {
        int h = w1.Rows, threads = Threads(rows, 2L * h, w1.Columns);
        if (w3.Columns != w1.Columns || w3.Rows != h)
        {
            LinearOf(kind, x, q, w1, gate, rows);
            LinearOf(kind, x, q, w3, up, rows);
            SwiGlu(gate, up, (long)rows * h);
            return;
        }
        var jobs = Capture(kind, x, q, [w1, w3], [gate, up], rows);
        if (jobs.Matches([h, h])) { jobs.RunSwiGlu(threads, F(gate), F(up), rows, h, Vector); return; }
        jobs.RunSequential(threads);
        SwiGlu(gate, up, (long)rows * h);
    }

    /// <inheritdoc />
    public void LinearAdd(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, DeviceMatrix w, DeviceBuffer residual,
                          DeviceBuffer scratch, int rows)
    {
        var jobs = Capture(kind, x, q, [w], [scratch], rows);
        int n = w.Rows, threads = Threads(rows, n, w.Columns);
        if (jobs.Matches([n])) { jobs.RunAdd(threads, F(residual), F(scratch), rows, n, Vector); return; }
        jobs.RunSequential(threads);
        Add(residual, scratch, (long)rows * n);
    }

    /// <summary>Runs the linear calls with this thread's pool calls captured: their jobs are recorded, not run.</summary>
    private ChannelJobs Capture(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, ReadOnlySpan<DeviceMatrix> weights,
                                ReadOnlySpan<DeviceBuffer> outputs, int rows)
    {
        var jobs = t_jobs ??= new ChannelJobs();
        _pool.BeginCapture(jobs);
        try
        {
            for (int i = 0; i < weights.Length; i++) LinearOf(kind, x, q, weights[i], outputs[i], rows);
        }
        catch
        {
            jobs.Clear();
            throw;
        }
        finally { CpuWorkerPool.EndCapture(); }
        return jobs;
    }

    /// <summary>One plain linear of <paramref name="kind"/>: IBackend's default dispatch (this backend does not override it).</summary>
    private void LinearOf(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, DeviceMatrix w, DeviceBuffer y, int rows)
        => ((IBackend)this).Linear(kind, x, q, w, y, rows);

    /// <summary>The threads of a fused call, by its total multiply-adds as for one linear (ParallelThreshold).</summary>
    private int Threads(int rows, long channels, int columns)
        => rows * channels * columns >= _options.ParallelThreshold ? _options.MaxThreads : 1;

    /// <summary>Stops the backend's worker threads.</summary>
    public void Dispose() => _pool.Dispose();

    private static float[] F(DeviceBuffer b) => ((CpuBuffer)b).Data ?? throw new ObjectDisposedException(nameof(DeviceBuffer));

    private static Int4Matrix Int4Of(DeviceMatrix w)
        => ((CpuMatrix)w).Int4 ?? throw new ArgumentException("This matrix has no INT4 weights (quantize the model first).", nameof(w));
}
