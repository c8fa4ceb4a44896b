using ILGPU;
using ILGPU.Runtime;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// The fused ops as single launches for the W4A16 and integer kinds (F32, the reference mode, keeps the default
/// composition): QKV in one launch, W1|W3 with the SwiGLU epilogue, the residual add in the linear's epilogue, RMSNorm
/// with the quantizer, and RoPE + StoreKv + attention per sequence. Each kernel shares its arithmetic with the plain
/// kernels (one helper defines each float order), so it equals the composition bit for bit.
/// </summary>
public sealed partial class IlgpuBackend
{
    private readonly KvSlice[] _attentionBatch = new KvSlice[KvSlots<F32Cache>.Count]; // used under the gate

    /// <inheritdoc />
    public void LinearMany(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, ReadOnlySpan<DeviceMatrix> weights,
                           ReadOnlySpan<DeviceBuffer> outputs, int rows)
    {
        if (weights.Length != outputs.Length)
            throw new ArgumentException($"{weights.Length} weights but {outputs.Length} outputs.", nameof(outputs));
        if (kind == LinearKind.F32 || weights.Length is 0 or > 3 || !SameInput(weights))
        {
            for (int i = 0; i < weights.Length; i++) ((IBackend)this).Linear(kind, x, q, weights[i], outputs[i], rows);
            return;
        }
        for (int i = 0; i < weights.Length; i++) CheckRange(outputs[i], 0, (long)rows * weights[i].Rows, nameof(outputs));
        LaunchMany(kind, x, q, Set(weights, outputs), Matrix(weights[0]), accumulate: 0, rows);
    }

    /// <inheritdoc />
    public void LinearAdd(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, DeviceMatrix w, DeviceBuffer residual,
                          DeviceBuffer scratch, int rows)
    {
        if (kind == LinearKind.F32)
        {
            LinearF32(x, w, scratch, rows);
            Add(residual, scratch, (long)rows * w.Rows);
            return;
        }
        CheckRange(residual, 0, (long)rows * w.Rows, nameof(residual));
        LaunchMany(kind, x, q, Set([w], [residual]), Matrix(w), accumulate: 1, rows);
    }

    /// <inheritdoc />
    public void LinearSwiGlu(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, DeviceMatrix w1, DeviceMatrix w3,
                             DeviceBuffer gate, DeviceBuffer up, int rows)
    {
        var m1 = Matrix(w1);
        var m3 = Matrix(w3);
        if (kind == LinearKind.F32 || !SameInput([w1, w3]) || m1.Rows != m3.Rows)
        {
            ((IBackend)this).Linear(kind, x, q, w1, gate, rows);
            ((IBackend)this).Linear(kind, x, q, w3, up, rows);
            SwiGlu(gate, up, (long)rows * w1.Rows);
            return;
        }
        CheckRange(gate, 0, (long)rows * m1.Rows, nameof(gate));
        var (p1, p3) = (m1.Packed, m3.Packed);
        if (rows == 0) return;
        var shape = Shape(m1, rows);
        if (kind == LinearKind.W4A16)
        {
            using var _ = Enter();
            var pair = Set([w1, w3], [gate, gate]); // the SwiGLU epilogue writes gate only
            if (SplitPlan(pair, shape) is KSplit split)
            {
                LaunchSplit(x, pair, split, SplitKReduceKernel.SwiGlu, shape);
                return;
            }
            Launched();
            _kernels.LinearW4A16SwiGlu(WarpPerChannelConfig(m1.Rows, LinearW4A16Kernel.WarpsPerGroup), F(x), p1, m1.Scales, p3, m3.Scales, F(gate), shape);
        }
        else
        {
            var qa = Activations(q ?? throw new ArgumentNullException(nameof(q), "LinearKind.Int reads quantized activations."), rows, m1.Columns);
            using var _ = Enter();
            Launched();
            if (UsesIntMma(rows))
                _kernels.LinearIntMmaSwiGlu(WarpPerChannelConfig(LinearIntMmaKernel.Tiles(m1.Rows), LinearIntMmaKernel.WarpsPerGroup), qa.Values, qa.Scales, p1, m1.Scales, p3, m3.Scales, F(gate), shape);
            else
                _kernels.LinearIntSwiGlu(WarpPerChannelConfig(m1.Rows, LinearIntKernel.WarpsPerGroup), qa.Values, qa.Scales, p1, m1.Scales, p3, m3.Scales, F(gate), shape);
        }
    }

    /// <inheritdoc />
    public void RmsNormQuantize(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps, int bits,
                                QuantizedActivationBuffer q)
    {
        int qmax = ActivationQuantReference.MaxLevel(bits);
        var qa = Activations(q, rows, dim);
        CheckRange(y, 0, (long)rows * dim, nameof(y));
        if (rows == 0) return;
        using var _ = Enter();
        Launched();
        _kernels.RmsNormQuantize(new KernelConfig(rows, _accelerator.WarpSize), F(x), F(weight), F(y), dim, eps,
            qa.Values, qa.Scales, Formats.Int4Matrix.PadColumns(dim), qmax);
    }

    /// <inheritdoc />
    public void RopeStoreKvAttention(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, int heads, int kvHeads, int headSize, float theta,
                                     ReadOnlySpan<KvSlice> slices, DeviceBuffer output)
    {
        CheckAttention(heads, kvHeads, headSize);
        if (headSize % 2 != 0) throw new ArgumentOutOfRangeException(nameof(headSize), headSize, "RoPE needs an even head size.");
        int maxPosition = -1, kvDim = kvHeads * headSize;
        foreach (var sl in slices)
        {
            if (sl.Start < 0) throw new ArgumentOutOfRangeException(nameof(slices), sl.Start, "Positions must be non-negative.");
            if (sl.Rows == 0) continue;
            CheckRange(Buffer(sl.Keys), sl.LayerOffset + (long)sl.Start * kvDim, (long)sl.Rows * kvDim, nameof(slices));
            CheckRange(Buffer(sl.Values), sl.LayerOffset + (long)sl.Start * kvDim, (long)sl.Rows * kvDim, nameof(slices));
            maxPosition = Math.Max(maxPosition, sl.Start + sl.Rows - 1);
        }
        if (maxPosition < 0) return;
        int total = 0;
        foreach (var sl in slices) total += sl.Rows;
        CheckRange(output, 0, (long)total * heads * headSize, nameof(output));
        CheckRange(q, 0, (long)total * heads * headSize, nameof(q));
        CheckRange(k, 0, (long)total * kvDim, nameof(k));
        CheckRange(v, 0, (long)total * kvDim, nameof(v));
        using var _ = Enter();
        var table = RopeTableView(theta, headSize, maxPosition + 1);
        // One launch per run of up to KvSlots.Count non-empty sequences with caches of one precision (a batch of B ≤ 8 is
        // one launch per layer).
        var batch = _attentionBatch;
        int count = 0, firstRow = 0, row = 0;
        foreach (var sl in slices)
        {
            if (sl.Rows == 0) continue;
            if (count == batch.Length || (count > 0 && Buffer(sl.Keys).Precision != Buffer(batch[0].Keys).Precision))
            {
                LaunchAttention(q, k, v, heads, kvHeads, headSize, batch.AsSpan(0, count), firstRow, table, output, fresh: 1);
                count = 0;
            }
            if (count == 0) firstRow = row;
            batch[count++] = sl;
            row += sl.Rows;
        }
        if (count > 0) LaunchAttention(q, k, v, heads, kvHeads, headSize, batch.AsSpan(0, count), firstRow, table, output, fresh: 1);
    }

    /// <summary>One launch of the many-matrix kernel of <paramref name="kind"/> over <paramref name="set"/>.</summary>
    private void LaunchMany(LinearKind kind, DeviceBuffer x, QuantizedActivationBuffer? q, MatrixSet set, IlgpuMatrix first, int accumulate, int rows)
    {
        if (rows == 0) return;
        var shape = Shape(first, rows) with { N = set.Channels };
        if (kind == LinearKind.W4A16)
        {
            using var _ = Enter();
            if (SplitPlan(set, shape) is KSplit split)
            {
                LaunchSplit(x, set, split, accumulate != 0 ? SplitKReduceKernel.Add : SplitKReduceKernel.Store, shape);
                return;
            }
            Launched();
            _kernels.LinearW4A16Many(WarpPerChannelConfig(set.Channels, LinearW4A16Kernel.WarpsPerGroup), F(x), set, accumulate, shape);
            return;
        }
        if (kind != LinearKind.Int) throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown linear kind.");
        var qa = Activations(q ?? throw new ArgumentNullException(nameof(q), "LinearKind.Int reads quantized activations."), rows, first.Columns);
        using (Enter())
        {
            Launched();
            if (UsesIntMma(rows))
                _kernels.LinearIntMmaMany(WarpPerChannelConfig(LinearIntMmaKernel.Tiles(set), LinearIntMmaKernel.WarpsPerGroup), qa.Values, qa.Scales, set, accumulate, shape);
            else
                _kernels.LinearIntMany(WarpPerChannelConfig(set.Channels, LinearIntKernel.WarpsPerGroup), qa.Values, qa.Scales, set, accumulate, shape);
        }
    }

    /// <summary>
    /// The integer linears of at least this many rows run on the INT8 tensor-core kernel (<see cref="LinearIntMmaKernel"/>)
    /// where warps have 32 lanes (CUDA, or a simulator shaped so); fewer rows stay on the dp4a kernel. Both give the same
    /// bits. Default: off (<see cref="int.MaxValue"/>) until the device check has run the instruction on a GPU: it has
    /// never run on one, and at decode shapes the tensor-core kernel has 16 times fewer warps than dp4a's warp per
    /// channel (128 for N = 2048), so whether it is faster is open. The tests and the device check set it
    /// (<see cref="IntMmaRows"/>) to verify it and time it beside dp4a.
    /// </summary>
    internal int IntMmaMinRows { get; set; } = int.MaxValue;

    /// <summary>The threshold that sends calls of more rows than dp4a keeps in registers to the tensor cores.</summary>
    internal const int IntMmaRows = LinearIntKernel.BlockRows + 1;

    /// <summary>Whether an integer linear of <paramref name="rows"/> rows goes to the tensor-core kernel (counted if so).</summary>
    private bool UsesIntMma(int rows)
    {
        bool mma = _accelerator.WarpSize == MmaInt8.WarpSize && rows >= IntMmaMinRows;
        if (mma) IntMmaLaunches++;
        return mma;
    }

    /// <summary>
    /// The launch of a warp-per-channel linear kernel over <paramref name="channels"/> output channels: groups of
    /// <paramref name="warps"/> warps (fewer where the device's groups are smaller), each striding over channel blocks.
    /// </summary>
    private KernelConfig WarpPerChannelConfig(int channels, int warps)
    {
        warps = Math.Min(warps, _accelerator.MaxNumThreadsPerGroup / _accelerator.WarpSize);
        return new KernelConfig(ResidentGroups((channels + warps - 1) / warps), warps * _accelerator.WarpSize);
    }

    /// <summary>Up to three matrices with their outputs; unused slots repeat the first with no channels.</summary>
    private static MatrixSet Set(ReadOnlySpan<DeviceMatrix> weights, ReadOnlySpan<DeviceBuffer> outputs)
    {
        var m0 = Matrix(weights[0]);
        var m1 = weights.Length > 1 ? Matrix(weights[1]) : m0;
        var m2 = weights.Length > 2 ? Matrix(weights[2]) : m0;
        var y0 = F(outputs[0]);
        return new MatrixSet
        {
            P0 = m0.Packed, P1 = m1.Packed, P2 = m2.Packed,
            S0 = m0.Scales, S1 = m1.Scales, S2 = m2.Scales,
            Y0 = y0, Y1 = outputs.Length > 1 ? F(outputs[1]) : y0, Y2 = outputs.Length > 2 ? F(outputs[2]) : y0,
            N0 = m0.Rows, N1 = weights.Length > 1 ? m1.Rows : 0, N2 = weights.Length > 2 ? m2.Rows : 0,
        };
    }

    /// <summary>True when the matrices read the same input layout: same K and scale groups (so one shape serves all).</summary>
    private static bool SameInput(ReadOnlySpan<DeviceMatrix> weights)
    {
        var first = Matrix(weights[0]);
        foreach (var w in weights)
        {
            var m = Matrix(w);
            if (m.Columns != first.Columns || m.GroupSize != first.GroupSize || !m.HasInt4) return false;
        }
        return true;
    }
}
