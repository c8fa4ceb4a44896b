using System.Buffers;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Dispatch of the float-activation linear ops (W4A16 and dense F32): pads X to a whole number of 64-column blocks,
/// splits output channels over threads for large matrices, and runs the chosen ISA kernel per channel.
/// Not thread-safe (one instance per backend; backend ops run in order).
/// </summary>
internal sealed unsafe class LinearFloat(CpuPaths paths, CpuBackendOptions options)
{
    private float[] _padded = [];

    /// <summary>Y[M, N] = X[M, K]·dequant(W)ᵀ.</summary>
    public void W4A16(float[] x, int rows, Int4Matrix w, float[] y)
    {
        int n = w.Rows, k = w.Columns, kp = w.PaddedColumns;
        if (paths.Float == CpuKernelPath.Scalar)
        {
            CpuParallel.For(n, Threads(n, k), 1, (start, end) =>
            {
                float[] buf = ArrayPool<float>.Shared.Rent(k);
                for (int j = start; j < end; j++)
                {
                    LinearFloatScalar.DequantizeRow(w, j, buf);
                    LinearFloatScalar.Rows(x, rows, k, buf, y, j, n);
                }
                ArrayPool<float>.Shared.Return(buf);
            });
            return;
        }
        float[] xp = Pad(x, rows, k, kp);
        var groups = new GroupIndex(w);
        bool avx512 = paths.Float == CpuKernelPath.Avx512;
        // Up to one register tile of rows, dequantize in registers; beyond it, dequantize each weight row once into L1.
        bool buffered = rows > (avx512 ? 4 : 2);
        CpuParallel.For(n, Threads(n, k), 1, (start, end) =>
        {
            float[]? buf = buffered ? ArrayPool<float>.Shared.Rent(kp + 16) : null;
            fixed (byte* wd = w.Data)
            fixed (float* sc = w.Scales, xq = xp, yp = y, bp = buf)
            {
                float* row = bp == null ? null : (float*)(((nint)bp + 63) & ~(nint)63);
                for (int j = start; j < end; j++)
                {
                    byte* wr = wd + (long)j * w.RowBytes;
                    float* sr = sc + (long)j * w.GroupCount;
                    if (avx512)
                    {
                        var src = new PackedSource512(wr, sr, groups);
                        if (!buffered) { LinearFloatAvx512.Rows(ref src, rows, kp / 64, xq, kp, yp + j, n); continue; }
                        LinearFloatAvx512.Dequantize(ref src, kp / 64, row);
                        var bs = new BufferSource512(row);
                        LinearFloatAvx512.Rows(ref bs, rows, kp / 64, xq, kp, yp + j, n);
                    }
                    else
                    {
                        var src = new PackedSource256(wr, sr, groups);
                        if (!buffered) { LinearFloatAvx2.Rows(ref src, rows, kp / 32, xq, kp, yp + j, n); continue; }
                        LinearFloatAvx2.Dequantize(ref src, kp / 32, row);
                        var bs = new BufferSource256(row);
                        LinearFloatAvx2.Rows(ref bs, rows, kp / 32, xq, kp, yp + j, n);
                    }
                }
            }
            if (buf != null) ArrayPool<float>.Shared.Return(buf);
        });
    }

    /// <summary>Y[M, N] = X[M, K]·Wᵀ with W dense [N, K].</summary>
    public void F32(float[] x, int rows, float[] w, int n, int k, float[] y)
    {
        if (paths.Float == CpuKernelPath.Scalar)
        {
            CpuParallel.For(n, Threads(n, k), 1, (start, end) =>
            {
                for (int j = start; j < end; j++) LinearFloatScalar.Rows(x, rows, k, w.AsSpan(j * k, k), y, j, n);
            });
            return;
        }
        int kp = Int4Matrix.PadColumns(k);
        float[] xp = Pad(x, rows, k, kp);
        bool avx512 = paths.Float == CpuKernelPath.Avx512;
        CpuParallel.For(n, Threads(n, k), 1, (start, end) =>
        {
            float* tail = stackalloc float[64];
            fixed (float* wd = w, xq = xp, yp = y)
            {
                for (int j = start; j < end; j++)
                {
                    float* wr = wd + (long)j * k;
                    int full = avx512 ? k / 64 : k / 32, done = full * (avx512 ? 64 : 32);
                    new Span<float>(tail, 64).Clear();
                    new ReadOnlySpan<float>(wr + done, k - done).CopyTo(new Span<float>(tail, 64));
                    if (avx512)
                    {
                        var src = new DenseSource512(wr, full, tail);
                        LinearFloatAvx512.Rows(ref src, rows, kp / 64, xq, kp, yp + j, n);
                    }
                    else
                    {
                        var src = new DenseSource256(wr, full, tail);
                        LinearFloatAvx2.Rows(ref src, rows, kp / 32, xq, kp, yp + j, n);
                    }
                }
            }
        });
    }

    private int Threads(int n, int k) => (long)n * k >= options.ParallelThreshold ? options.MaxThreads : 1;

    /// <summary>Copies X[M, K] into a scratch with row stride kp and zero padding (kernels read whole blocks).</summary>
    private float[] Pad(float[] x, int rows, int k, int kp)
    {
        int need = rows * kp;
        if (_padded.Length < need) _padded = GC.AllocateUninitializedArray<float>(need, pinned: true);
        for (int m = 0; m < rows; m++)
        {
            x.AsSpan(m * k, k).CopyTo(_padded.AsSpan(m * kp, k));
            _padded.AsSpan(m * kp + k, kp - k).Clear();
        }
        return _padded;
    }
}
