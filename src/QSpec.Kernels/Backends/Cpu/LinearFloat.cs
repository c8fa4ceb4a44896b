using System.Buffers;
using System.Runtime.Intrinsics;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Dispatch of the float-activation linear ops (W4A16 and dense F32): pads X to a whole number of 64-column blocks,
/// splits output channels over threads for large matrices, and runs the chosen ISA kernel per channel.
/// The padded-X scratch is per calling thread, so one backend may serve several threads at once.
/// Contract with the fused ops: each call does all of its work inside its single <see cref="CpuWorkerPool.For"/> body,
/// which writes Y[m, j] for the channels of its range only; the fused ops capture that body and run it later (see
/// <see cref="ChannelJobs"/>), after the other matrices' calls have padded the same X into the same scratch.
/// </summary>
internal sealed unsafe class LinearFloat(CpuPaths paths, CpuBackendOptions options, CpuWorkerPool pool)
{
    [ThreadStatic] private static float[]? t_padded;
    private readonly bool _denormal = options.DenormalW4A16 ?? DenormalFloats.Enabled;
    private readonly bool _table = options.W4A16TableKernel;

    /// <summary>Y[M, N] = X[M, K]·dequant(W)ᵀ; <paramref name="halfScales"/> (the matrix's scales as fp16 bits, or null) serves the AVX-512 kernel.</summary>
    public void W4A16(float[] x, int rows, Int4Matrix w, float[] y, ushort[]? halfScales = null)
    {
        int n = w.Rows, k = w.Columns;
        var groups = new GroupIndex(w);
        if (paths.Float == CpuKernelPath.Avx512)
        {
            // The denormal form unless this thread reads denormals as zero (DAZ) or the machine pays for denormal operands:
            // then, at G = 32 and 64 with fp32 scales, the table kernel (X zero-padded, not permuted), else the nibble
            // kernel's fold (G = 32, 64) or table (G >= 128, per channel) form.
            bool denormal = DenormalFormHere();
            if (!denormal && groups.BlockShift <= 0 && (TableOverride ?? _table) && !(options.HalfPrecisionScalesW4A16 && halfScales != null))
            {
                var table = ChannelJob.For<TableJob>();
                table.Kp = Int4Matrix.PadColumns(k);
                (table.X, table.XOffset) = Pad(x, rows, k, table.Kp);
                table.W = w; table.Groups = groups; table.Y = y; table.Rows = rows;
                pool.Run(n, Threads(rows, n, k), LinearW4A16Avx512.ChannelBlock, table);
                return;
            }
            // X permuted once into the order the shuffle-free dequantization yields the weights (and its offset sums).
            var job = ChannelJob.For<NibbleJob>();
            (job.X, job.XOffset, job.XStride) = LinearW4A16NibbleActivations.Permute(x, rows, k, split: groups.BlockShift < 0, denormal);
            job.W = w; job.Groups = groups; job.Y = y; job.Rows = rows; job.Denormal = denormal; job.Source = x;
            job.HalfScales = options.HalfPrecisionScalesW4A16 ? halfScales : null;
            pool.Run(n, Threads(rows, n, k), LinearW4A16Nibble.ChannelBlock, job);
            return;
        }
        if (paths.Float is CpuKernelPath.Avx2 or CpuKernelPath.AvxVnni)
        {
            // The same idea on 256 bits: X permuted once into the order the in-place nibble dequantization yields the
            // weights; the denormal form unless this thread reads denormals as zero (DAZ), then the shift form.
            var job = ChannelJob.For<Avx2Job>();
            bool denormal = DenormalFormHere();
            (job.X, job.XOffset, job.XStride) = LinearW4A16Avx2Activations.Permute(x, rows, k, split: groups.BlockShift < 0, denormal);
            job.W = w; job.Groups = groups; job.Y = y; job.Rows = rows; job.Denormal = denormal; job.Source = x;
            job.HalfScales = options.HalfPrecisionScalesW4A16 ? halfScales : null;
            pool.Run(n, Threads(rows, n, k), LinearW4A16Avx2.ChannelBlock, job);
            return;
        }
        var narrow = ChannelJob.For<W4A16Job>();
        narrow.W = w; narrow.Y = y; narrow.Rows = rows; narrow.X = x;
        pool.Run(n, Threads(rows, n, k), 1, narrow);
    }

    /// <summary>
    /// The W4A16 kernel form this backend runs (on a thread that keeps denormals): "denormal", "fold" (AVX-512 at G = 32
    /// and 64; the nibble table form at wider groups), "table" (<see cref="CpuBackendOptions.W4A16TableKernel"/>),
    /// "shift" (AVX2 without the denormal form) or "scalar". Part of the backend's name, so benchmarks say which ran.
    /// </summary>
    public string W4A16Form => paths.Float switch
    {
        CpuKernelPath.Avx512 => _denormal ? "denormal" : _table ? "table" : "fold",
        CpuKernelPath.Avx2 or CpuKernelPath.AvxVnni => _denormal ? "denormal" : "shift",
        _ => "scalar",
    };

    /// <summary>A/B benchmarks only: forces the table kernel on (true) or off (false) for every backend in the process (null: each backend's own choice).</summary>
    internal static bool? TableOverride;

    /// <summary>Whether this call runs the denormal form: the backend's (or the A/B override's) choice, unless the calling
    /// thread reads denormals as zero (DAZ). The same rule for the AVX-512 and AVX2 kernels.</summary>
    private bool DenormalFormHere() => (DenormalFloats.Override ?? _denormal) && DenormalFloats.KeptOnThisThread();

    /// <summary>The AVX2 W4A16 linear (<see cref="LinearW4A16Avx2"/>) over a channel range: a reused job, so a call allocates nothing.</summary>
    private sealed class Avx2Job : ChannelJob
    {
        public Int4Matrix? W;
        public GroupIndex Groups;
        public float[]? X, Y;
        public int XOffset, XStride, Rows;
        public bool Denormal;
        public float[]? Source; // X as given (rows × K): the reference's input where a thread flushes denormals
        public ushort[]? HalfScales;

        public override void Release() { W = null; X = Y = Source = null; HalfScales = null; }

        protected override void Run(int start, int end)
        {
            var w = W!;
            if (Denormal && !DenormalFloats.KeptOnThisThread())
            {
                ScalarChannels(w, Source!, Rows, Y!, start, end); // as NibbleJob: a DAZ worker cannot run the denormal form
                return;
            }
            // The accumulators (2 vectors per channel of a block and row), then with fp16 scales one channel block's
            // scales as fp32, are pooled scratch: no allocation once warm.
            int accFloats = LinearW4A16Avx2.AccumulatorCount(Rows) * 8;
            int scaleFloats = HalfScales is null ? 0 : LinearW4A16Avx2.HalfScaleScratch(w.GroupCount);
            float[] scratch = ArrayPool<float>.Shared.Rent(accFloats + scaleFloats + 16);
            fixed (byte* wd = w.Data)
            fixed (float* sc = w.Scales, x0 = X, yp = Y, ap = scratch)
            fixed (ushort* hs = HalfScales)
            {
                float* a = (float*)Align(ap);
                LinearW4A16Avx2.Run(wd, sc, hs, hs == null ? null : a + accFloats, w.RowBytes, w.GroupCount, Groups, w.Rows, start, end, Rows,
                                    x0 + XOffset, XStride, yp, (Vector256<float>*)a, Denormal);
            }
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>The AVX-512 W4A16 linear (<see cref="LinearW4A16Nibble"/>) over a channel range: a reused job, so a call allocates nothing.</summary>
    private sealed class NibbleJob : ChannelJob
    {
        public Int4Matrix? W;
        public GroupIndex Groups;
        public float[]? X, Y;
        public ushort[]? HalfScales;
        public int XOffset, XStride, Rows;
        public bool Denormal;
        public float[]? Source; // X as given (rows × K): the reference's input where a thread flushes denormals

        public override void Release() { W = null; X = Y = Source = null; HalfScales = null; }

        protected override void Run(int start, int end)
        {
            var w = W!;
            if (Denormal && !DenormalFloats.KeptOnThisThread())
            {
                // A worker that reads denormals as zero (DAZ set on it by native code) cannot run the denormal form the
                // caller chose: its channels take the scalar reference instead (same values within the kernels'
                // tolerance, not the same bits, and slow). The caller's own thread never gets here (it picks the fold or table form).
                ScalarChannels(w, Source!, Rows, Y!, start, end);
                return;
            }
            int accFloats = LinearW4A16Nibble.AccumulatorCount(Rows) * 16;
            // fp16 scales: the accumulators, then one channel block's scales converted to fp32 (see LinearW4A16Nibble.Run).
            int scaleFloats = HalfScales is null ? 0 : LinearW4A16Nibble.HalfScaleScratch(w.GroupCount);
            float[] scratch = ArrayPool<float>.Shared.Rent(accFloats + scaleFloats + 16);
            fixed (byte* wd = w.Data)
            fixed (float* sc = w.Scales, x0 = X, yp = Y, ap = scratch)
            fixed (ushort* hs = HalfScales)
            {
                float* a = (float*)Align(ap);
                LinearW4A16Nibble.Run(wd, sc, hs, hs == null ? null : a + accFloats, w.RowBytes, w.GroupCount, Groups, w.Rows, start, end, Rows,
                                      x0 + XOffset, XStride, yp, (Vector512<float>*)a, Denormal);
            }
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>
    /// The AVX-512 table kernel (<see cref="LinearW4A16Avx512"/>: vpmovzxbd, then vpermps from (u − 8)·s, the reference's
    /// products) over a channel range, X zero-padded to whole blocks: a reused job, so a call allocates nothing once warm.
    /// </summary>
    private sealed class TableJob : ChannelJob
    {
        public Int4Matrix? W;
        public GroupIndex Groups;
        public float[]? X, Y;
        public int XOffset, Kp, Rows;

        public override void Release() { W = null; X = Y = null; }

        protected override void Run(int start, int end)
        {
            var w = W!;
            float[] scratch = ArrayPool<float>.Shared.Rent(LinearW4A16Avx512.AccumulatorCount(Rows) * 16 + 16);
            fixed (byte* wd = w.Data)
            fixed (float* sc = w.Scales, x0 = X, yp = Y, ap = scratch)
                LinearW4A16Avx512.Run(wd, sc, w.RowBytes, w.GroupCount, Groups, w.Rows, start, end, Rows, x0 + XOffset, Kp, yp, Align(ap));
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>The scalar W4A16 linear over a channel range (X as is).</summary>
    private sealed class W4A16Job : ChannelJob
    {
        public Int4Matrix? W;
        public float[]? X, Y;
        public int Rows;

        public override void Release() { W = null; X = Y = null; }

        protected override void Run(int start, int end) => ScalarChannels(W!, X!, Rows, Y!, start, end);
    }

    /// <summary>The scalar W4A16 reference for channels [start, end): X[rows, K] as is.</summary>
    private static void ScalarChannels(Int4Matrix w, float[] x, int rows, float[] y, int start, int end)
    {
        int n = w.Rows, k = w.Columns;
        float[] dq = ArrayPool<float>.Shared.Rent(k);
        for (int j = start; j < end; j++)
        {
            LinearFloatScalar.DequantizeRow(w, j, dq);
            LinearFloatScalar.Rows(x, rows, k, dq, y, j, n);
        }
        ArrayPool<float>.Shared.Return(dq);
    }

    /// <summary>Y[M, N] = X[M, K]·Wᵀ with W dense [N, K] (<see cref="CpuMatrix.Dense"/>).</summary>
    /// <remarks>A row's partial last block comes from the matrix's precomputed zero-padded tails, never a per-call copy.
    /// The work is a reused <see cref="F32Job"/>, so a call allocates nothing.</remarks>
    public void F32(float[] x, int rows, CpuMatrix matrix, float[] y)
    {
        int n = matrix.Rows, k = matrix.Columns, kp = Int4Matrix.PadColumns(k);
        var job = ChannelJob.For<F32Job>();
        job.Path = paths.Float;
        job.W = matrix.Dense!; job.Y = y; job.Rows = rows; job.N = n; job.K = k; job.Kp = kp;
        if (paths.Float == CpuKernelPath.Scalar) { job.X = x; job.XOffset = 0; }
        else
        {
            (job.X, job.XOffset) = Pad(x, rows, k, kp);
            job.Tails = matrix.DenseTails;
            job.TailHalf = matrix.DenseTailHalf;
        }
        int align = paths.Float == CpuKernelPath.Avx512 ? LinearFloatAvx512.ChannelBlock : 1;
        pool.Run(n, Threads(rows, n, k), align, job);
    }

    /// <summary>The dense float linear over a channel range, on the scalar, AVX2 or AVX-512 kernel.</summary>
    private sealed class F32Job : ChannelJob
    {
        public CpuKernelPath Path;
        public float[]? X, W, Y, Tails;
        public int XOffset, Rows, N, K, Kp, TailHalf;

        public override void Release() { X = W = Y = Tails = null; }

        protected override void Run(int start, int end)
        {
            float[] x = X!, w = W!, y = Y!;
            int rows = Rows, n = N, k = K, kp = Kp;
            if (Path == CpuKernelPath.Scalar)
            {
                for (int j = start; j < end; j++) LinearFloatScalar.Rows(x, rows, k, w.AsSpan(j * k, k), y, j, n);
                return;
            }
            bool avx512 = Path == CpuKernelPath.Avx512;
            // One row through at most one K chunk keeps its accumulators in registers (no scratch).
            bool parked = avx512 && !(rows == 1 && kp / 64 <= LinearFloatAvx512.ChunkBlocks);
            float[]? scratch = parked ? ArrayPool<float>.Shared.Rent(LinearFloatAvx512.AccumulatorCount(rows) * 16 + 16) : null;
            fixed (float* wd = w, x0 = x, yp = y, ap = scratch, tp = Tails)
            {
                float* xq = x0 + XOffset;
                if (avx512)
                {
                    var provider = new DenseProvider512(wd, k, tp);
                    LinearFloatAvx512.Run<DenseProvider512, DenseSource512>(ref provider, start, end, rows, kp / 64, xq, kp, yp, n, Align(ap));
                }
                else
                {
                    // AVX2 reads 32-column halves: a row's partial half and the zero half after it lie in its tail slot.
                    for (int j = start; j < end; j++)
                    {
                        var src = new DenseSource256(wd + (long)j * k, k / 32, tp + 64L * j + TailHalf);
                        LinearFloatAvx2.Rows(ref src, rows, kp / 32, xq, kp, yp + j, n);
                    }
                }
            }
            if (scratch != null) ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>The first 64-byte aligned address at or after <paramref name="p"/> (scratch is over-allocated by 16 floats).</summary>
    private static Vector512<float>* Align(float* p) => (Vector512<float>*)(((nint)p + 63) & ~(nint)63);

    /// <summary>All threads when the call's multiply-adds (M·N·K) reach the threshold, else one: splitting a small call costs more than it saves.</summary>
    private int Threads(int rows, int n, int k) => (long)rows * n * k >= options.ParallelThreshold ? options.MaxThreads : 1;

    /// <summary>
    /// Copies X[M, K] into a per-thread pinned scratch with row stride kp and zero padding (kernels read whole blocks),
    /// starting at element <c>Offset</c>, the first 64-byte aligned one: unaligned 64-byte loads split cache lines and
    /// the activation loads bound the small-M tiles.
    /// </summary>
    private static (float[] Buffer, int Offset) Pad(float[] x, int rows, int k, int kp)
    {
        int need = rows * kp + 16;
        var padded = t_padded;
        if (padded is null || padded.Length < need) t_padded = padded = GC.AllocateUninitializedArray<float>(need, pinned: true);
        int offset;
        fixed (float* p = padded) offset = (int)((64 - ((nint)p & 63)) & 63) / sizeof(float);
        for (int m = 0; m < rows; m++)
        {
            x.AsSpan(m * k, k).CopyTo(padded.AsSpan(offset + m * kp, k));
            padded.AsSpan(offset + m * kp + k, kp - k).Clear();
        }
        return (padded, offset);
    }
}
