using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Dispatch of the integer linear op (W4A4 / W4A8): output channels in tiles of four, split over threads for large
/// matrices (integer sums are exact and the float order is per channel, so threading never changes a bit).
/// </summary>
internal static unsafe class LinearIntKernel
{
    /// <summary>Y[M, N] from quantized activations and the INT4 weights of <paramref name="matrix"/>.</summary>
    public static void Run(CpuPaths paths, CpuBackendOptions options, CpuWorkerPool pool, CpuQuantizedActivations q, int rows, CpuMatrix matrix, float[] y)
    {
        var w = matrix.Int4!;
        int n = w.Rows, k = w.Columns;
        int threads = (long)n * k >= options.ParallelThreshold ? options.MaxThreads : 1;
        if (paths.Int == CpuKernelPath.Scalar)
        {
            pool.For(n, threads, 1, (start, end) =>
            {
                for (int j = start; j < end; j++) LinearIntScalar.Channel(q.Values, q.Scales, rows, w, j, y);
            });
            return;
        }
        float[] tiled = matrix.TiledScales;
        int kp = w.PaddedColumns, chunks = (k + 31) / 32;
        var shape = new LinearIntAvx2.Shape(w.GroupCount, w.GroupSize == 0 ? chunks : w.GroupSize / 32, chunks, 4 * w.RowBytes);
        bool vnni = paths.Int == CpuKernelPath.AvxVnni;
        pool.For(n, threads, 4, (start, end) =>
        {
            fixed (byte* wd = w.Data)
            fixed (float* ts = tiled, yp = y, sa = q.Scales)
            fixed (sbyte* qa = q.Values)
            fixed (int* qs = q.ChunkSums)
            {
                for (int j = start; j < end; j += 4)
                {
                    // Channels past N repeat the last row; their lanes are computed and dropped.
                    byte* r0 = wd + (long)j * w.RowBytes;
                    byte* r1 = wd + (long)Math.Min(j + 1, n - 1) * w.RowBytes;
                    byte* r2 = wd + (long)Math.Min(j + 2, n - 1) * w.RowBytes;
                    byte* r3 = wd + (long)Math.Min(j + 3, n - 1) * w.RowBytes;
                    float* scales = ts + (long)(j / 4) * w.GroupCount * 4;
                    int valid = Math.Min(4, n - j);
                    for (int m = 0; m < rows; m++)
                    {
                        sbyte* a = qa + (long)m * kp;
                        int* sums = qs + (long)m * (kp / CpuQuantizedActivations.ChunkColumns);
                        float* ym = yp + (long)m * n + j;
                        if (vnni) LinearIntAvx2.Tile<VnniDot>(r0, r1, r2, r3, scales, shape, a, sums, sa[m], ym, valid);
                        else LinearIntAvx2.Tile<MaddubsDot>(r0, r1, r2, r3, scales, shape, a, sums, sa[m], ym, valid);
                    }
                }
            }
        });
    }
}
