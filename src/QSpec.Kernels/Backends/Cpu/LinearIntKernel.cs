using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Dispatch of the integer linear op (W4A4 / W4A8): output channels in tiles of four, split over threads for large
/// matrices (integer sums are exact and the float order is per channel, so threading never changes a bit).
/// </summary>
internal static unsafe class LinearIntKernel
{
    /// <summary>Y[M, N] from quantized activations and the INT4 weights of <paramref name="matrix"/>.</summary>
    /// <remarks>The work is a reused <see cref="ChannelJob"/> per path, so a call allocates nothing.</remarks>
    public static void Run(CpuPaths paths, CpuBackendOptions options, CpuWorkerPool pool, CpuQuantizedActivations q, int rows, CpuMatrix matrix, float[] y)
    {
        var w = matrix.Int4!;
        int n = w.Rows, k = w.Columns;
        int threads = (long)rows * n * k >= options.ParallelThreshold ? options.MaxThreads : 1; // by work per call, as the float ops
        if (paths.Int == CpuKernelPath.Avx512)
        {
            var job = ChannelJob.For<Avx512Job>();
            job.Prepare(q, rows, matrix, y, options.HalfPrecisionScales);
            pool.Run(n, threads, LinearIntAvx512.Pairs, job);
            return;
        }
        if (paths.Int == CpuKernelPath.Scalar)
        {
            var job = ChannelJob.For<ScalarJob>();
            job.Q = q; job.W = w; job.Y = y; job.Rows = rows;
            pool.Run(n, threads, 1, job);
            return;
        }
        var avx2 = ChannelJob.For<Avx2Job>();
        avx2.Q = q; avx2.Matrix = matrix; avx2.Y = y; avx2.Rows = rows; avx2.Vnni = paths.Int == CpuKernelPath.AvxVnni;
        avx2.MaxTileRows = Avx2MaxTileRows;
        avx2.HalfScales = options.HalfPrecisionScales;
        avx2.PrepareCorrections();
        pool.Run(n, threads, 4, avx2);
    }

    private sealed class ScalarJob : ChannelJob
    {
        public CpuQuantizedActivations? Q;
        public Int4Matrix? W;
        public float[]? Y;
        public int Rows;

        public override void Release() { Q = null; W = null; Y = null; }

        protected override void Run(int start, int end)
        {
            for (int j = start; j < end; j++) LinearIntScalar.Channel(Q!.Values, Q.Scales, Rows, W!, j, Y!);
        }
    }

    /// <summary>
    /// Most rows per AVX2 tile: 2, the default; 1 runs every row through the one-row <see cref="LinearIntAvx2.Tile{TDot}"/>
    /// as before the multi-row tiles (A/B runs: <c>intavx2ab</c>); 4 allows the 4-row tiles, which measured no faster
    /// than two 2-row passes (intavx2ab, 3 Dec 2026: M = 4 at 0.92-1.0 of the one-row tiles at G = 128 and 0.70 at
    /// G = 32, two 2-row passes ~0.75 and ~0.5; the 4-row tile spills registers). Same bits in every setting (tests).
    /// </summary>
    /// <remarks>Per calling thread (read when a call is dispatched, then carried by its job to the workers), so a test or an
    /// A/B run that changes it never changes the tiles of calls made on other threads.</remarks>
    internal static int Avx2MaxTileRows { get => t_avx2MaxTileRows == 0 ? 2 : t_avx2MaxTileRows; set => t_avx2MaxTileRows = value; }

    [ThreadStatic] private static int t_avx2MaxTileRows; // 0: the default

    /// <summary>
    /// The AVX2 / AVX-VNNI path: per tile of four channels the rows in chunks of 2 (or 4, <see cref="Avx2MaxTileRows"/>; <see cref="LinearIntAvx2Rows"/>),
    /// then 1 (the same tile with one row: M = 1 and an odd last row); the chunks after the first find the tile's
    /// weights in L1, so memory sees each weight byte once per call and each chunk unpacks it once for all its rows.
    /// The one-row tile of <see cref="LinearIntAvx2.Tile{TDot}"/> runs only at <see cref="Avx2MaxTileRows"/> = 1 (the A/B
    /// baseline): at G = 32 its per-group reduction (three vphaddd per group) made M = 1 cost 1.2-1.6x the multi-row
    /// tile's one-row form, which folds a block's two groups together (intavx2ab, 3 Dec 2026: 0.61-0.85 of its time at
    /// G = 32, 0.94-1.05 at G = 128 and per channel).
    /// </summary>
    private sealed class Avx2Job : ChannelJob
    {
        public CpuQuantizedActivations? Q;
        public CpuMatrix? Matrix;
        public float[]? Y;
        public int Rows;
        public bool Vnni, HalfScales;
        public int MaxTileRows = 2;
        // 8·Σa per (row, group) of this call, four copies each (the tile's channel lanes), row stride 4·GroupCount: the multi-row tiles' nibble-offset corrections,
        // summed once per call instead of once per tile. The job's own (grown, never shrunk), so a call allocates nothing.
        private int[] _corrections = [];

        public override void Release() { Q = null; Matrix = null; Y = null; }

        /// <summary>Fills <see cref="_corrections"/> from the chunk sums (exact integers: the same value in any order).</summary>
        public void PrepareCorrections()
        {
            var w = Matrix!.Int4!;
            int rows = Rows, gc = w.GroupCount, chunks = (w.Columns + 31) / 32, groupChunks = w.GroupSize == 0 ? chunks : w.GroupSize / 32;
            if (MaxTileRows == 1) return; // the one-row tiles read the chunk sums themselves
            if (_corrections.Length < rows * gc * 4) _corrections = GC.AllocateArray<int>(rows * gc * 4, pinned: true);
            int[] sums = Q!.ChunkSums;
            int stride = w.PaddedColumns / CpuQuantizedActivations.ChunkColumns;
            for (int m = 0; m < rows; m++)
                for (int g = 0; g < gc; g++)
                {
                    int s = 0;
                    for (int c = g * groupChunks, end = Math.Min(chunks, c + groupChunks); c < end; c++) s += sums[m * stride + c];
                    _corrections.AsSpan((m * gc + g) * 4, 4).Fill(8 * s);
                }
        }

        protected override void Run(int start, int end)
        {
            var matrix = Matrix!;
            // fp16 scales where they are exact and the option allows (same bits); the one-row A/B baseline reads fp32.
            // Measured on the 2-core AVX2 VM (`int 2 32 40`, `halfforward`, 3 Dec 2026): fp16/fp32 time 0.95-1.03 per
            // shape at M = 1 and 0.99 for a W4A8 forward, no gain within the noise (the tile runs at 80-100 % of the
            // stream either way). Kept for hosts where more cores share the bandwidth: 10 % fewer bytes at G = 32.
            if (HalfScales && matrix.ScalesAreHalf && MaxTileRows > 1)
            {
                fixed (ushort* ts = matrix.TiledHalfScales) Tiles<HalfTileScales>(start, end, (byte*)ts);
            }
            else
            {
                fixed (float* ts = matrix.TiledScales) Tiles<FloatTileScales>(start, end, (byte*)ts);
            }
        }

        /// <summary>The tiles of channels [start, end), their scales read from <paramref name="tiled"/> (layout <see cref="CpuMatrix.TiledScales"/>) as <typeparamref name="TScales"/>.</summary>
        private void Tiles<TScales>(int start, int end, byte* tiled) where TScales : struct, ITileScales
        {
            var q = Q!; var w = Matrix!.Int4!; float[] y = Y!;
            int n = w.Rows, k = w.Columns, rows = Rows, kp = w.PaddedColumns, chunks = (k + 31) / 32;
            int sumStride = kp / CpuQuantizedActivations.ChunkColumns, gc = w.GroupCount;
            var shape = new LinearIntAvx2.Shape(w.GroupCount, w.GroupSize == 0 ? chunks : w.GroupSize / 32, chunks, 4 * w.RowBytes);
            int maxRows = MaxTileRows;
            bool vnni = Vnni, four = maxRows >= 4; // 2-row passes after the first find the weights in L1
            bool single = maxRows == 1; // the A/B baseline: every row through the one-row tile of LinearIntAvx2 (fp32 scales)
            fixed (byte* wd = w.Data)
            fixed (float* yp = y, sa = q.Scales)
            fixed (sbyte* qa = q.Values)
            fixed (int* qs = q.ChunkSums, corr = _corrections)
            {
                for (int j = start; j < end; j += 4)
                {
                    // Channels past N repeat the last row; their lanes are computed and dropped.
                    byte* r0 = wd + (long)j * w.RowBytes;
                    byte* r1 = wd + (long)Math.Min(j + 1, n - 1) * w.RowBytes;
                    byte* r2 = wd + (long)Math.Min(j + 2, n - 1) * w.RowBytes;
                    byte* r3 = wd + (long)Math.Min(j + 3, n - 1) * w.RowBytes;
                    byte* scales = tiled + (long)(j / 4) * w.GroupCount * 4 * TScales.Bytes;
                    int valid = Math.Min(4, n - j);
                    for (int m = 0; m < rows;)
                    {
                        int tr = single ? 1 : rows - m >= 4 && four ? 4 : rows - m >= 2 ? 2 : 1;
                        sbyte* a = qa + (long)m * kp;
                        int* sums = qs + (long)m * sumStride, cm = corr + (long)m * gc * 4;
                        float* ym = yp + (long)m * n + j;
                        switch (tr, vnni)
                        {
                            case (4, false): LinearIntAvx2Rows.Tile<MaddubsDot, Avx2FourRows, TScales>(r0, r1, r2, r3, scales, shape, a, kp, cm, 4 * gc, sa + m, ym, n, valid); break;
                            case (2, false): LinearIntAvx2Rows.Tile<MaddubsDot, Avx2TwoRows, TScales>(r0, r1, r2, r3, scales, shape, a, kp, cm, 4 * gc, sa + m, ym, n, valid); break;
                            case (_, false) when single: LinearIntAvx2.Tile<MaddubsDot>(r0, r1, r2, r3, (float*)scales, shape, a, sums, sa[m], ym, valid); break;
                            case (_, false): LinearIntAvx2Rows.Tile<MaddubsDot, Avx2OneRow, TScales>(r0, r1, r2, r3, scales, shape, a, kp, cm, 4 * gc, sa + m, ym, n, valid); break;
                            case (4, true): LinearIntAvx2Rows.Tile<VnniDot, Avx2FourRows, TScales>(r0, r1, r2, r3, scales, shape, a, kp, cm, 4 * gc, sa + m, ym, n, valid); break;
                            case (2, true): LinearIntAvx2Rows.Tile<VnniDot, Avx2TwoRows, TScales>(r0, r1, r2, r3, scales, shape, a, kp, cm, 4 * gc, sa + m, ym, n, valid); break;
                            case (_, true) when single: LinearIntAvx2.Tile<VnniDot>(r0, r1, r2, r3, (float*)scales, shape, a, sums, sa[m], ym, valid); break;
                            default: LinearIntAvx2Rows.Tile<VnniDot, Avx2OneRow, TScales>(r0, r1, r2, r3, scales, shape, a, kp, cm, 4 * gc, sa + m, ym, n, valid); break;
                        }
                        m += tr;
                    }
                }
            }
        }
    }

    /// <summary>
    /// The AVX-512BW path: rows in chunks of 4, then 2, then 1 (tiles of 4, 8 or 16 channels); per block of 16 channels
    /// every chunk runs over the same weight rows, which stay in L1/L2, so memory sees each weight byte once.
    /// </summary>
    private sealed class Avx512Job : ChannelJob
    {
        // Per row chunk: 16 ints per group (8·Σa of each pair lane's row) and 16 activation scales. The job's own, so the
        // captured jobs of one fused op (one per slot) keep theirs even when their matrices' group sizes differ.
        private int[] _corrections = [];
        private float[] _rowScales = [];
        private CpuQuantizedActivations? _q;
        private CpuMatrix? _matrix;
        private float[]? _y;
        private int _fours, _twos, _chunkCount;
        private bool _half;

        public override void Release() { _q = null; _matrix = null; _y = null; }

        /// <summary>
        /// Fills the per-chunk corrections and row scales of this call; <paramref name="halfScales"/> (the option) lets a
        /// matrix whose scales are all fp16 values be read through <see cref="CpuMatrix.BlockHalfScales"/>.
        /// </summary>
        public void Prepare(CpuQuantizedActivations q, int rows, CpuMatrix matrix, float[] y, bool halfScales)
        {
            var w = matrix.Int4!;
            int kp = w.PaddedColumns, gc = w.GroupCount, chunksPerRow = kp / CpuQuantizedActivations.ChunkColumns;
            int groupChunks = w.GroupSize == 0 ? chunksPerRow : w.GroupSize / CpuQuantizedActivations.ChunkColumns;
            // Row chunks: as many 4-row tiles as fit, then a 2-row and a 1-row tile.
            int fours = rows / 4, twos = (rows % 4) / 2, ones = rows % 2, chunkCount = fours + twos + ones;
            if (_corrections.Length < chunkCount * gc * 16) _corrections = GC.AllocateArray<int>(chunkCount * gc * 16, pinned: true);
            if (_rowScales.Length < chunkCount * 16) _rowScales = GC.AllocateArray<float>(chunkCount * 16, pinned: true);
            LinearIntAvx512.Prepare(q, fours, twos, ones, gc, groupChunks, chunksPerRow, _corrections, _rowScales);
            _q = q; _matrix = matrix; _y = y; _half = halfScales && matrix.ScalesAreHalf;
            _fours = fours; _twos = twos; _chunkCount = chunkCount;
        }

        protected override void Run(int start, int end)
        {
            if (_half)
            {
                fixed (ushort* sp = _matrix!.BlockHalfScales) Tiles<HalfBlockScales>(start, end, (byte*)sp);
            }
            else
            {
                fixed (float* sp = _matrix!.BlockScales) Tiles<FloatBlockScales>(start, end, (byte*)sp);
            }
        }

        /// <summary>Channels [start, end) with the block scales at <paramref name="sp"/> in <typeparamref name="TS"/>'s layout.</summary>
        private void Tiles<TS>(int start, int end, byte* sp) where TS : struct, IBlockScales
        {
            var q = _q!; var matrix = _matrix!; var w = matrix.Int4!; float[] y = _y!;
            float[] rowScales = _rowScales;
            int[] corrections = _corrections;
            int n = w.Rows, kp = w.PaddedColumns, gc = w.GroupCount, fours = _fours, twos = _twos, chunkCount = _chunkCount;
            int xs = CpuQuantizedActivations.InterleavedStride(w.Columns);
            var shape = new LinearIntAvx512.Shape(w.RowBytes, (kp + 127) / 128, kp % 128 != 0, gc, CpuMatrix.ScaleBlock, xs);
            int kind = w.GroupSize switch { 0 => 0, 128 => 1, 64 => 2, _ => 4 };
            float* result = stackalloc float[LinearIntAvx512.Pairs];
            fixed (byte* wd = w.Data)
            fixed (float* rs = rowScales, yp = y)
            fixed (sbyte* xp = q.Interleaved)
            fixed (int* cp = corrections)
            {
                byte* lastRow = wd + (long)(n - 1) * w.RowBytes;
                for (int j0 = start; j0 < end; j0 += LinearIntAvx512.Pairs)
                    for (int ci = 0; ci < chunkCount; ci++)
                    {
                        var (m0, tr) = Chunk(ci, fours, twos);
                        int channels = LinearIntAvx512.Pairs / tr;
                        for (int jc = j0; jc < Math.Min(end, j0 + LinearIntAvx512.Pairs); jc += channels)
                        {
                            byte* wr = wd + (long)jc * w.RowBytes;
                            sbyte* xr = xp + (long)m0 * xs;
                            int* cr = cp + (long)ci * gc * 16;
                            float* sr = rs + ci * 16;
                            byte* sc = sp + ((long)(jc / CpuMatrix.ScaleBlock) * gc * CpuMatrix.ScaleBlock + jc % CpuMatrix.ScaleBlock) * TS.Bytes;
                            switch ((tr, kind))
                            {
                                case (1, 0): LinearIntAvx512.Tile<OneRow, PerChannelGroups, TS>(wr, lastRow, sc, shape, xr, cr, sr, result); break;
                                case (1, 1): LinearIntAvx512.Tile<OneRow, Groups128, TS>(wr, lastRow, sc, shape, xr, cr, sr, result); break;
                                case (1, 2): LinearIntAvx512.Tile<OneRow, Groups64, TS>(wr, lastRow, sc, shape, xr, cr, sr, result); break;
                                case (1, _): LinearIntAvx512.Tile<OneRow, Groups32, TS>(wr, lastRow, sc, shape, xr, cr, sr, result); break;
                                case (2, 0): LinearIntAvx512.Tile<TwoRows, PerChannelGroups, TS>(wr, lastRow, sc, shape, xr, cr, sr, result); break;
                                case (2, 1): LinearIntAvx512.Tile<TwoRows, Groups128, TS>(wr, lastRow, sc, shape, xr, cr, sr, result); break;
                                case (2, 2): LinearIntAvx512.Tile<TwoRows, Groups64, TS>(wr, lastRow, sc, shape, xr, cr, sr, result); break;
                                case (2, _): LinearIntAvx512.Tile<TwoRows, Groups32, TS>(wr, lastRow, sc, shape, xr, cr, sr, result); break;
                                case (_, 0): LinearIntAvx512.Tile<FourRows, PerChannelGroups, TS>(wr, lastRow, sc, shape, xr, cr, sr, result); break;
                                case (_, 1): LinearIntAvx512.Tile<FourRows, Groups128, TS>(wr, lastRow, sc, shape, xr, cr, sr, result); break;
                                case (_, 2): LinearIntAvx512.Tile<FourRows, Groups64, TS>(wr, lastRow, sc, shape, xr, cr, sr, result); break;
                                default: LinearIntAvx512.Tile<FourRows, Groups32, TS>(wr, lastRow, sc, shape, xr, cr, sr, result); break;
                            }
                            int valid = Math.Min(channels, n - jc);
                            for (int r = 0; r < tr; r++)
                            {
                                float* ym = yp + (long)(m0 + r) * n + jc;
                                for (int c = 0; c < valid; c++) ym[c] = result[r * channels + c];
                            }
                        }
                    }
            }
        }
    }

    /// <summary>Row chunk <paramref name="ci"/>: its first row and its height (4, then 2, then 1).</summary>
    private static (int M0, int Rows) Chunk(int ci, int fours, int twos)
        => ci < fours ? (4 * ci, 4) : ci < fours + twos ? (4 * fours, 2) : (4 * fours + 2 * twos, 1);
}
