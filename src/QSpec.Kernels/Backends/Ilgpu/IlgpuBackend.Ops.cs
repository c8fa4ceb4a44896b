using ILGPU;
using ILGPU.Runtime;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Backends.Ilgpu;

public sealed partial class IlgpuBackend
{
    /// <inheritdoc />
    public void Embedding(DeviceBuffer table, ReadOnlySpan<int> tokens, int dim, DeviceBuffer x)
    {
        if (tokens.IsEmpty) return;
        long vocab = table.Length / dim;
        foreach (int t in tokens)
            if ((uint)t >= vocab) throw new ArgumentOutOfRangeException(nameof(tokens), t, $"Token id outside the vocabulary of {vocab}.");
        using var _ = Enter();
        var ids = UploadIndices(_tokens, tokens);
        Launched();
        _kernels.Embedding(tokens.Length * dim, F(table), ids, F(x), dim);
    }

    /// <inheritdoc />
    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps)
    {
        if (rows == 0) return;
        using var _ = Enter();
        Launched();
        _kernels.RmsNorm(new KernelConfig(rows, _accelerator.WarpSize), F(x), F(weight), F(y), dim, eps);
    }

    /// <inheritdoc />
    public void LinearF32(DeviceBuffer x, DeviceMatrix w, DeviceBuffer y, int rows)
    {
        var m = Matrix(w);
        if (rows == 0) return;
        using var _ = Enter();
        Launched();
        _kernels.LinearF32(new KernelConfig(m.Rows, _accelerator.WarpSize), F(x), m.Dense, F(y), Shape(m, rows));
    }

    /// <inheritdoc />
    public void LinearW4A16(DeviceBuffer x, DeviceMatrix w, DeviceBuffer y, int rows)
    {
        var m = Matrix(w);
        var packed = m.Packed;
        if (rows == 0) return;
        using var _ = Enter();
        var one = Set([w], [y]);
        if (SplitPlan(one, Shape(m, rows)) is KSplit split)
        {
            LaunchSplit(x, one, split, SplitKReduceKernel.Store, Shape(m, rows));
            return;
        }
        Launched();
        _kernels.LinearW4A16(WarpPerChannelConfig(m.Rows, LinearW4A16Kernel.WarpsPerGroup), F(x), packed, m.Scales, F(y), Shape(m, rows));
    }

    /// <inheritdoc />
    public void QuantizeActivations(DeviceBuffer x, int rows, int columns, int bits, QuantizedActivationBuffer q)
    {
        int qmax = ActivationQuantReference.MaxLevel(bits);
        var qa = Activations(q, rows, columns);
        if (rows == 0) return;
        using var _ = Enter();
        Launched();
        _kernels.QuantizeActivations(new KernelConfig(rows, _accelerator.WarpSize), F(x), qa.Values, qa.Scales,
            columns, Formats.Int4Matrix.PadColumns(columns), qmax);
    }

    /// <inheritdoc />
    public void LinearInt(QuantizedActivationBuffer q, DeviceMatrix w, DeviceBuffer y, int rows)
    {
        var m = Matrix(w);
        var packed = m.Packed;
        var qa = Activations(q, rows, m.Columns);
        if (rows == 0) return;
        using var _ = Enter();
        Launched();
        if (UsesIntMma(rows))
            _kernels.LinearIntMma(WarpPerChannelConfig(LinearIntMmaKernel.Tiles(m.Rows), LinearIntMmaKernel.WarpsPerGroup), qa.Values, qa.Scales, packed, m.Scales, F(y), Shape(m, rows));
        else
            _kernels.LinearInt(WarpPerChannelConfig(m.Rows, LinearIntKernel.WarpsPerGroup), qa.Values, qa.Scales, packed, m.Scales, F(y), Shape(m, rows));
    }

    /// <inheritdoc />
    public void Hadamard(DeviceBuffer x, int rows, int dim, int blockSize)
    {
        if (!HadamardReference.IsPowerOfTwo(blockSize) || dim % blockSize != 0)
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, $"Block size must be a power of two dividing {dim}.");
        if (rows == 0 || blockSize == 1) return;
        float norm = 1f / MathF.Sqrt(blockSize);
        using var _ = Enter();
        for (int span = 1; span < blockSize; span <<= 1)
        {
            Launched();
            _kernels.HadamardStage(rows * dim / 2, F(x), new HadamardStage(dim, blockSize, span, norm, span * 2 == blockSize ? 1 : 0));
        }
    }

    /// <inheritdoc />
    public void Rope(DeviceBuffer x, int rows, int heads, int headSize, ReadOnlySpan<int> positions, float theta)
    {
        if (headSize % 2 != 0) throw new ArgumentOutOfRangeException(nameof(headSize), headSize, "RoPE needs an even head size.");
        if (rows == 0) return;
        int maxPosition = 0;
        foreach (int p in positions[..rows])
        {
            if (p < 0) throw new ArgumentOutOfRangeException(nameof(positions), p, "Positions must be non-negative.");
            maxPosition = Math.Max(maxPosition, p);
        }
        using var _ = Enter();
        var table = RopeTableView(theta, headSize, maxPosition + 1);
        var pos = UploadIndices(_positions, positions[..rows]);
        Launched();
        _kernels.Rope(rows * heads * (headSize / 2), F(x), pos, table, heads, headSize);
    }

    /// <inheritdoc />
    public void StoreKv(DeviceBuffer k, DeviceBuffer v, int rowOffset, int rows, int kvDim,
                        DeviceBuffer keyCache, DeviceBuffer valueCache, long layerOffset, int start)
    {
        if (rows == 0) return;
        var kc = Buffer(keyCache);
        var vc = Buffer(valueCache);
        long source = (long)rowOffset * kvDim, destination = layerOffset + (long)start * kvDim;
        CheckRange(kc, destination, (long)rows * kvDim, nameof(start));
        int count = rows * kvDim;
        using var _ = Enter();
        Launched();
        if (kc.Precision == KvPrecision.Float32)
            _kernels.StoreF32(count, F(k), F(v), new F32Cache(kc.Floats), new F32Cache(vc.Floats), source, destination);
        else
            _kernels.StoreF16(count, F(k), F(v), new F16Cache(kc.Halves), new F16Cache(vc.Halves), source, destination);
    }

    /// <inheritdoc />
    public void Attention(DeviceBuffer q, int rowOffset, int rows, int heads, int kvHeads, int headSize,
                          DeviceBuffer keyCache, DeviceBuffer valueCache, long layerOffset, int start, DeviceBuffer output)
    {
        CheckAttention(heads, kvHeads, headSize);
        if (rows == 0) return;
        using var _ = Enter();
        var unused = F(q); // k, v and the RoPE table are not read in plain mode
        LaunchAttention(q, q, q, heads, kvHeads, headSize, [new KvSlice(rows, start, keyCache, valueCache, layerOffset)], rowOffset,
            unused, output, fresh: 0);
    }

    /// <summary>
    /// Tests only: the group count below which attention spreads a KV head's query heads over more groups (null: the
    /// device's default). The result must not depend on it.
    /// </summary>
    internal int? AttentionTargetGroups { get; set; }

    private static void CheckAttention(int heads, int kvHeads, int headSize)
    {
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new ArgumentOutOfRangeException(nameof(kvHeads), kvHeads, $"KV heads must divide the {heads} query heads.");
        if (headSize <= 0 || headSize > AttentionKernel.MaxHeadSize)
            throw new ArgumentOutOfRangeException(nameof(headSize), headSize, $"The ILGPU attention kernel supports head sizes 1 to {AttentionKernel.MaxHeadSize}.");
    }

    /// <summary>
    /// One attention launch (the caller holds the gate) over up to <see cref="KvSlots{TCache}.Count"/> non-empty sequences
    /// whose rows follow one another from q row <paramref name="firstRow"/>, with caches of one precision: from the cache
    /// alone (<paramref name="fresh"/> = 0), or the fused RoPE + StoreKv + attention (1; see <see cref="AttentionKernel"/>).
    /// </summary>
    private void LaunchAttention(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, int heads, int kvHeads, int headSize,
                                 ReadOnlySpan<KvSlice> slices, int firstRow, ArrayView<float> table, DeviceBuffer output, int fresh)
    {
        int rows = 0;
        foreach (var sl in slices) rows += sl.Rows;
        int warps = Math.Min(AttentionKernel.MaxWarps, _accelerator.MaxNumThreadsPerGroup / _accelerator.WarpSize);
        // On a GPU, spread a small launch (decode at B = 1) over more groups; on the CPU accelerator one group per
        // multiprocessor is all that runs at once.
        int target = AttentionTargetGroups ?? (IsCuda ? 2 * _accelerator.NumMultiprocessors : 1);
        int perGroup = AttentionKernel.HeadsPerGroup(heads, kvHeads, headSize, rows, target);
        var shape = new AttentionShape(firstRow, rows, heads, kvHeads, headSize, 1f / MathF.Sqrt(headSize), perGroup, fresh);
        var config = new KernelConfig(rows * heads / perGroup, warps * _accelerator.WarpSize);
        Launched();
        if (Buffer(slices[0].Keys).Precision == KvPrecision.Float32)
        {
            var slots = default(KvSlots<F32Cache>);
            for (int j = 0, row = firstRow; j < KvSlots<F32Cache>.Count; j++)
            {
                var sl = slices[Math.Min(j, slices.Length - 1)];
                int n = j < slices.Length ? sl.Rows : 0;
                slots = KvSlots<F32Cache>.With(slots, j, new F32Cache(Buffer(sl.Keys).Floats), new F32Cache(Buffer(sl.Values).Floats), row, n, sl.Start, sl.LayerOffset);
                row += n;
            }
            _kernels.AttentionF32(config, F(q), F(k), F(v), slots, table, F(output), shape);
        }
        else
        {
            var slots = default(KvSlots<F16Cache>);
            for (int j = 0, row = firstRow; j < KvSlots<F16Cache>.Count; j++)
            {
                var sl = slices[Math.Min(j, slices.Length - 1)];
                int n = j < slices.Length ? sl.Rows : 0;
                slots = KvSlots<F16Cache>.With(slots, j, new F16Cache(Buffer(sl.Keys).Halves), new F16Cache(Buffer(sl.Values).Halves), row, n, sl.Start, sl.LayerOffset);
                row += n;
            }
            _kernels.AttentionF16(config, F(q), F(k), F(v), slots, table, F(output), shape);
        }
    }

    /// <inheritdoc />
    public void SwiGlu(DeviceBuffer gate, DeviceBuffer up, long length)
    {
        if (length <= 0) return;
        using var _ = Enter();
        Launched();
        _kernels.SwiGlu(checked((int)length), F(gate), F(up));
    }

    /// <inheritdoc />
    public void Add(DeviceBuffer x, DeviceBuffer delta, long length)
    {
        if (length <= 0) return;
        using var _ = Enter();
        Launched();
        _kernels.Add(checked((int)length), F(x), F(delta));
    }

    /// <inheritdoc />
    public int Argmax(DeviceBuffer x, long offset, int length)
    {
        Span<int> result = stackalloc int[1];
        ArgmaxRows(x, offset, length, result);
        return result[0];
    }

    /// <inheritdoc />
    /// <remarks>One launch (a group per row) and one download per <see cref="MaxArgmaxRows"/> rows: one host wait for a
    /// whole verify pass or batch instead of one per row.</remarks>
    public void ArgmaxRows(DeviceBuffer x, long offset, int length, Span<int> indices)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        if (indices.IsEmpty) return;
        CheckRange(x, offset, (long)length * indices.Length, nameof(offset));
        using var _ = Enter();
        for (int r = 0; r < indices.Length; r += MaxArgmaxRows)
        {
            var chunk = indices.Slice(r, Math.Min(MaxArgmaxRows, indices.Length - r));
            LaunchArgmax(x, offset + (long)r * length, length, chunk.Length, _argmaxResult.View);
            CopyToHost(_argmaxResult.View, chunk);
        }
    }

    /// <summary>One argmax launch: result[i] = argmax of row i of <paramref name="rows"/> (≤ <see cref="MaxArgmaxRows"/>) rows from offset; under the gate.</summary>
    private void LaunchArgmax(DeviceBuffer x, long offset, int length, int rows, ArrayView<int> result)
    {
        Launched();
        _kernels.Argmax(new KernelConfig(rows, ArgmaxKernel.GroupSize(_accelerator.MaxNumThreadsPerGroup)), F(x), offset, length, result);
    }

    /// <inheritdoc />
    /// <remarks>The argmax kernel writes straight into the token buffer (its floats viewed as ints): no copy, no wait.</remarks>
    public void ArgmaxRowsTo(DeviceBuffer x, long offset, int length, int rows, DeviceBuffer tokens, long tokenOffset)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        if (rows == 0) return;
        CheckRange(x, offset, (long)length * rows, nameof(offset));
        CheckRange(tokens, tokenOffset, rows, nameof(tokenOffset));
        using var _ = Enter();
        for (int r = 0; r < rows; r += MaxArgmaxRows)
        {
            int count = Math.Min(MaxArgmaxRows, rows - r);
            LaunchArgmax(x, offset + (long)r * length, length, count, Ids(tokens, tokenOffset + r, count));
        }
    }

    /// <inheritdoc />
    /// <remarks>The ids are not checked on the device: they must come from <see cref="ArgmaxRowsTo"/> over rows of the
    /// vocabulary's length (as the draft loop's do), which keeps them inside the table.</remarks>
    public void EmbeddingFrom(DeviceBuffer table, DeviceBuffer tokens, long tokenOffset, int rows, int dim, DeviceBuffer x)
    {
        if (rows == 0) return;
        CheckRange(tokens, tokenOffset, rows, nameof(tokenOffset));
        CheckRange(x, 0, (long)rows * dim, nameof(x));
        using var _ = Enter();
        Launched();
        _kernels.Embedding(rows * dim, F(table), Ids(tokens, tokenOffset, rows), F(x), dim);
    }

    /// <inheritdoc />
    public void DownloadTokens(DeviceBuffer tokens, long offset, Span<int> ids)
    {
        CheckRange(tokens, offset, ids.Length, nameof(offset));
        using var _ = Enter();
        CopyToHost(Ids(tokens, offset, ids.Length), ids);
    }

    /// <summary>Elements [offset, offset + count) of a float buffer viewed as the int32 token ids they hold.</summary>
    private static ArrayView<int> Ids(DeviceBuffer tokens, long offset, int count) => F(tokens).SubView(offset, count).Cast<int>();

    /// <summary>Downloads quantized activations as written by <see cref="QuantizeActivations"/> (for tests).</summary>
    internal (sbyte[] Values, float[] Scales) DownloadQuantized(QuantizedActivationBuffer q, int rows, int columns)
    {
        var qa = Activations(q, rows, columns);
        int words = rows * Formats.Int4Matrix.PadColumns(columns) / 4;
        var packed = new int[words];
        var scales = new float[rows];
        using var _ = Enter();
        CopyToHost(qa.Values, packed);
        CopyToHost(qa.Scales, scales);
        return (System.Runtime.InteropServices.MemoryMarshal.Cast<int, sbyte>(packed).ToArray(), scales);
    }

    /// <summary>
    /// The cos/sin table for (theta, headSize) covering at least <paramref name="positions"/> positions; rebuilt on the
    /// host (doubling) when a larger position or other parameters arrive.
    /// </summary>
    private ArrayView<float> RopeTableView(float theta, int headSize, int positions)
    {
        var key = _ropeKey;
        if (_ropeTable is null || key.Theta != theta || key.HeadSize != headSize || key.Positions < positions)
        {
            int capacity = Math.Max(positions, key.Theta == theta && key.HeadSize == headSize ? key.Positions * 2 : 256);
            var host = RopeTable.Build(capacity, headSize, theta);
            ReleaseAfterQueuedWork(_ropeTable);
            _ropeTable = null;
            _ropeTable = AllocateDevice<float>(host.Length);
            CopyToDevice<float>(host, _ropeTable.View);
            _ropeKey = (theta, headSize, capacity);
        }
        return _ropeTable.View;
    }

    private void Launched() => KernelLaunches++;

    /// <summary>
    /// The grid for a grid-stride kernel that needs <paramref name="groups"/> groups: all of them on a GPU; on the CPU
    /// accelerator one per simulated multiprocessor, because there each group pays a shared-memory allocation and group
    /// set-up across its OS threads, while extra groups would run one after another anyway.
    /// </summary>
    private int ResidentGroups(int groups) => IsCuda ? groups : Math.Min(groups, _accelerator.NumMultiprocessors);

    private static IlgpuMatrix Matrix(DeviceMatrix w) =>
        w as IlgpuMatrix ?? throw new ArgumentException($"Matrix of type {w.GetType().Name} does not belong to an ILGPU backend.", nameof(w));

    private static LinearShape Shape(IlgpuMatrix m, int rows) =>
        new(rows, m.Rows, m.Columns, m.PaddedColumns, m.GroupSize, m.GroupCount);

    private static IlgpuQuantizedActivations Activations(QuantizedActivationBuffer q, int rows, int columns)
    {
        var qa = q as IlgpuQuantizedActivations
                 ?? throw new ArgumentException($"Buffer of type {q.GetType().Name} does not belong to an ILGPU backend.", nameof(q));
        if (rows > qa.MaxRows || columns > qa.MaxColumns)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"{rows}x{columns} exceeds the buffer's {qa.MaxRows}x{qa.MaxColumns}.");
        return qa;
    }
}
