using ILGPU;
using ILGPU.Runtime;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// W4A16 linear: Y[M, N] = X[M, K] · dequant(W)ᵀ with the INT4 weights dequantized in registers; no shared memory,
/// no barriers. <see cref="RunMany"/> (QKV; the residual add) and <see cref="RunSwiGlu"/> are the fused forms: the same
/// per-channel arithmetic (<c>Sums</c>) with another epilogue, so they equal the plain kernel plus the elementwise op
/// bit for bit.
/// </summary>
/// <remarks>
/// <para>Layout: warp w of a group computes output channel n = group · warps + w for every row, in blocks of
/// <see cref="BlockRows"/> rows (M ≤ 8 reads each weight once). Lane l takes the row's 16-byte weight quads l, l + 32, …:
/// quad j holds words 4j .. 4j + 3, i.e. block j / 2, columns c .. c + 15 in its low nibbles and c + 32 .. c + 47 in its
/// high nibbles, c = 64 · (j / 2) + 16 · (j % 2) (see <see cref="Formats.Int4Matrix"/>). Each 16-column run lies in one
/// scale group (group sizes are multiples of 32 and runs start at multiples of 16), so the run's 16 products are summed
/// first and multiplied by the scale once.</para>
/// <para>Latency: a lane issues the loads of its next <see cref="LoadsInFlight"/> quads before it decodes the first, so a
/// resident warp keeps 4 · 32 · 16 = 2 KB of weights in flight instead of 512 bytes; the arithmetic that follows is
/// unchanged (same quads, same order).</para>
/// <para>Dequantization is the magic-number trick: the float with bits 0x4B000000 | u is 2^23 + u exactly, so
/// subtracting 2^23 + 8 gives q = u − 8 with no integer-to-float conversion (a shift, an AND/OR that ptxas folds into
/// LOP3, one FSUB).</para>
/// <para>Float order of row m: per lane, quads ascending, each contributing (low run · s_lo) + (high run · s_hi) with
/// each run summed left to right; then the butterfly warp sum. It depends neither on M nor on the row's slot in its
/// block (batch invariant); it differs from the reference's double sum, hence the relative tolerance in the tests.</para>
/// <para>Split K (<see cref="RunPartial"/> then <see cref="SplitKReduceKernel"/>): a matrix too narrow to fill the
/// device has its rows cut into parts, one warp per (channel, part), and a second launch adds the parts in ascending
/// order. The part count is a function of the matrix and the device only (see IlgpuBackend.SplitK.cs), so a fused
/// launch and the plain ops it replaces still agree bit for bit.</para>
/// </remarks>
internal static class LinearW4A16Kernel
{
    /// <summary>Rows whose accumulators a warp keeps in registers per pass over the weights.</summary>
    public const int BlockRows = 8;
    /// <summary>Output channels per thread group (fewer where the device's groups hold fewer warps).</summary>
    public const int WarpsPerGroup = 4;
    /// <summary>128-bit weight loads each lane issues before it uses the first (a warp covers 4 · 32 quads per step).</summary>
    public const int LoadsInFlight = 4;

    /// <summary>2^23 + 8 as a float: (2^23 + u) − this = u − 8.</summary>
    private const float MagicBias = 8388616f;

    /// <summary>
    /// The kernel (explicitly grouped: group = warps · warp size; any grid, each group striding over channel blocks; the
    /// backend launches ceil(N / warps) groups on CUDA, one per simulated multiprocessor on the CPU accelerator).
    /// </summary>
    public static void Run(ArrayView<float> x, ArrayView<uint> packed, ArrayView<float> scales, ArrayView<float> y, LinearShape s)
    {
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize;
        int warps = Group.DimX / warpSize;
        for (int nBase = Grid.IdxX * warps; nBase < s.N; nBase += Grid.DimX * warps)
        {
            int n = nBase + Warp.WarpIdx;
            if (n >= s.N) continue; // uniform over the warp: no shuffles are skipped by part of it
            for (int m0 = 0; m0 < s.Rows; m0 += BlockRows)
            {
                int rows = Math.Min(BlockRows, s.Rows - m0);
                var sums = Sums(x, packed, scales, n, m0, rows, s, lane, warpSize, 0, s.PaddedK / 32);
                if (lane == 0) sums.Store(y, (long)m0 * s.N + n, s.N, rows);
            }
        }
    }

    /// <summary>
    /// LinearMany and LinearAdd in one launch: the channels of up to three matrices (<see cref="MatrixSet"/>; s.N is their
    /// total), each computed exactly as <see cref="Run"/> computes it, then stored (<paramref name="accumulate"/> = 0) or
    /// added to the output (1, the residual epilogue). Same launch shape as <see cref="Run"/>.
    /// </summary>
    public static void RunMany(ArrayView<float> x, MatrixSet w, int accumulate, LinearShape s)
    {
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize;
        int warps = Group.DimX / warpSize;
        for (int cBase = Grid.IdxX * warps; cBase < s.N; cBase += Grid.DimX * warps)
        {
            int c = cBase + Warp.WarpIdx;
            if (c >= s.N) continue;
            int which = w.Which(c), n = c - w.First(which), width = w.Width(which);
            var packed = w.Packed(which);
            var scales = w.Scales(which);
            var y = w.Output(which);
            for (int m0 = 0; m0 < s.Rows; m0 += BlockRows)
            {
                int rows = Math.Min(BlockRows, s.Rows - m0);
                var sums = Sums(x, packed, scales, n, m0, rows, s, lane, warpSize, 0, s.PaddedK / 32);
                if (lane != 0) continue;
                if (accumulate != 0) sums.AddTo(y, (long)m0 * width + n, width, rows);
                else sums.Store(y, (long)m0 * width + n, width, rows);
            }
        }
    }

    /// <summary>
    /// LinearSwiGlu: channel n of W1 and of W3, each as <see cref="Run"/> computes it, then gate = silu(x·W1ᵀ) · (x·W3ᵀ)
    /// as <see cref="ElementwiseKernels.SwiGlu"/> (the W3 product never leaves registers). Same launch shape as <see cref="Run"/>.
    /// </summary>
    public static void RunSwiGlu(ArrayView<float> x, ArrayView<uint> packed1, ArrayView<float> scales1,
                                 ArrayView<uint> packed3, ArrayView<float> scales3, ArrayView<float> gate, LinearShape s)
    {
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize;
        int warps = Group.DimX / warpSize;
        for (int nBase = Grid.IdxX * warps; nBase < s.N; nBase += Grid.DimX * warps)
        {
            int n = nBase + Warp.WarpIdx;
            if (n >= s.N) continue;
            for (int m0 = 0; m0 < s.Rows; m0 += BlockRows)
            {
                int rows = Math.Min(BlockRows, s.Rows - m0);
                var g = Sums(x, packed1, scales1, n, m0, rows, s, lane, warpSize, 0, s.PaddedK / 32);
                var u = Sums(x, packed3, scales3, n, m0, rows, s, lane, warpSize, 0, s.PaddedK / 32);
                if (lane == 0) g.StoreSwiGlu(u, gate, (long)m0 * s.N + n, s.N, rows);
            }
        }
    }

    /// <summary>
    /// Split-K pass 1 (<see cref="SplitKReduceKernel"/> is pass 2): warp (launch channel c, part p = Grid.IdxY) sums
    /// quads [p · span, min((p + 1) · span, quads)) of its matrix's row, span = <see cref="KSplit.Span"/>, for every row,
    /// exactly as <see cref="Sums"/> sums a whole row, and stores them to partials[(p · Rows + m) · N + c]. A part that
    /// starts past its matrix's last quad does nothing: the reduction stops before it. Grid: x as <see cref="RunMany"/>,
    /// y = the launch's largest part count.
    /// </summary>
    public static void RunPartial(ArrayView<float> x, MatrixSet w, KSplit split, ArrayView<float> partials, LinearShape s)
    {
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize;
        int warps = Group.DimX / warpSize;
        int part = Grid.IdxY, quads = s.PaddedK / 32;
        for (int cBase = Grid.IdxX * warps; cBase < s.N; cBase += Grid.DimX * warps)
        {
            int c = cBase + Warp.WarpIdx;
            if (c >= s.N) continue;
            int which = w.Which(c), n = c - w.First(which), span = split.Span(which);
            int begin = part * span;
            if (begin >= quads) continue; // uniform over the warp
            int end = Math.Min(quads, begin + span);
            var packed = w.Packed(which);
            var scales = w.Scales(which);
            for (int m0 = 0; m0 < s.Rows; m0 += BlockRows)
            {
                int rows = Math.Min(BlockRows, s.Rows - m0);
                var sums = Sums(x, packed, scales, n, m0, rows, s, lane, warpSize, begin, end);
                if (lane == 0) sums.Store(partials, ((long)part * s.Rows + m0) * s.N + c, s.N, rows);
            }
        }
    }

    /// <summary>
    /// Channel n of rows m0 .. m0 + rows − 1 (rows ≤ 8) over quads [begin, end) of its row (the whole row but in split-K
    /// pass 1): every lane's partial sums over its quads, then the warp sums (every lane gets them). The one place the
    /// W4A16 float order is defined, so every kernel above agrees bit for bit.
    /// </summary>
    private static Floats8 Sums(ArrayView<float> x, ArrayView<uint> packed, ArrayView<float> scales, int n, int m0, int rows,
                                LinearShape s, int lane, int warpSize, int begin, int end)
    {
        int quads = s.PaddedK / 32;
        // Packed rows start on 16-byte boundaries (the weights are whole device buffers and a row is a whole number of
        // quads). AsAligned states it to ILGPU's vectorizer, which cannot prove it where the view is chosen at run time
        // (LinearMany's three matrices), so that every quad is one 128-bit load; on the CPU accelerator it is asserted.
        var quadView = packed.Cast<Quad>().AsAligned(16);
        long quadRow = (long)n * quads;
        long scaleRow = (long)n * s.GroupCount;
        var acc = default(Floats8);
        for (int j = begin + lane; j < end; j += LoadsInFlight * warpSize)
        {
            // Four unconditional 128-bit loads before any arithmetic uses them (several loads in flight per lane; no
            // branch between them). A quad index past the row is clamped to the row's last quad: that load stays in
            // bounds and its value is not used. The quads are then added in ascending order, as one at a time would be.
            int j1 = j + warpSize, j2 = j1 + warpSize, j3 = j2 + warpSize, last = end - 1;
            var p0 = quadView[quadRow + j];
            var p1 = quadView[quadRow + Math.Min(j1, last)];
            var p2 = quadView[quadRow + Math.Min(j2, last)];
            var p3 = quadView[quadRow + Math.Min(j3, last)];
            acc = AddQuad(acc, x, p0, j, scales, scaleRow, m0, rows, s);
            if (j1 < end) acc = AddQuad(acc, x, p1, j1, scales, scaleRow, m0, rows, s);
            if (j2 < end) acc = AddQuad(acc, x, p2, j2, scales, scaleRow, m0, rows, s);
            if (j3 < end) acc = AddQuad(acc, x, p3, j3, scales, scaleRow, m0, rows, s);
        }
        // `rows` is uniform over the warp, so the shuffles stay converged.
        return Floats8.WarpSums(acc, rows);
    }

    /// <summary>acc[r] += quad <paramref name="j"/>'s term for each of the first <paramref name="rows"/> rows.</summary>
    private static Floats8 AddQuad(Floats8 acc, ArrayView<float> x, Quad p, int j, ArrayView<float> scales, long scaleRow,
                                   int m0, int rows, LinearShape s)
    {
        int c = (j >> 1) * 64 + (j & 1) * 16; // j ≥ 0: shifts, not signed divisions
        float sLo = scales[scaleRow + s.GroupOf(c)];
        float sHi = scales[scaleRow + s.GroupOf(c + 32)];
        var lo = Run16.Decode(p, 0);
        var hi = Run16.Decode(p, 4);
        bool inside = c + 48 <= s.K; // else the quad reaches past K: those columns have q = 0, x is not read
        long xRow = (long)m0 * s.K;
        acc.F0 += Term(x, xRow, c, s.K, inside, lo, hi, sLo, sHi);
        if (rows > 1) acc.F1 += Term(x, xRow + s.K, c, s.K, inside, lo, hi, sLo, sHi);
        if (rows > 2) acc.F2 += Term(x, xRow + 2L * s.K, c, s.K, inside, lo, hi, sLo, sHi);
        if (rows > 3) acc.F3 += Term(x, xRow + 3L * s.K, c, s.K, inside, lo, hi, sLo, sHi);
        if (rows > 4) acc.F4 += Term(x, xRow + 4L * s.K, c, s.K, inside, lo, hi, sLo, sHi);
        if (rows > 5) acc.F5 += Term(x, xRow + 5L * s.K, c, s.K, inside, lo, hi, sLo, sHi);
        if (rows > 6) acc.F6 += Term(x, xRow + 6L * s.K, c, s.K, inside, lo, hi, sLo, sHi);
        if (rows > 7) acc.F7 += Term(x, xRow + 7L * s.K, c, s.K, inside, lo, hi, sLo, sHi);
        return acc;
    }

    /// <summary>One quad's contribution to one row: (low run · s_lo) + (high run · s_hi).</summary>
    private static float Term(ArrayView<float> x, long xRow, int c, int k, bool inside, in Run16 lo, in Run16 hi, float sLo, float sHi) =>
        inside
            ? lo.Dot(x, xRow + c) * sLo + hi.Dot(x, xRow + c + 32) * sHi
            : lo.DotClipped(x, xRow, c, k) * sLo + hi.DotClipped(x, xRow, c + 32, k) * sHi;

    /// <summary>16 bytes of packed weights: four consecutive words, loaded together.</summary>
    internal struct Quad
    {
        public uint W0, W1, W2, W3;
    }

    /// <summary>16 dequantized (unscaled) weights of one run: column c + i is <c>Wi</c>.</summary>
    internal struct Run16
    {
        public float W0, W1, W2, W3, W4, W5, W6, W7, W8, W9, W10, W11, W12, W13, W14, W15;

        /// <summary>The nibbles at bit <paramref name="shift"/> (0: low, 4: high) of each byte: word i, byte t → Wᵢ₄₊ₜ.</summary>
        public static Run16 Decode(Quad p, int shift) => new()
        {
            W0 = Q(p.W0, shift), W1 = Q(p.W0, shift + 8), W2 = Q(p.W0, shift + 16), W3 = Q(p.W0, shift + 24),
            W4 = Q(p.W1, shift), W5 = Q(p.W1, shift + 8), W6 = Q(p.W1, shift + 16), W7 = Q(p.W1, shift + 24),
            W8 = Q(p.W2, shift), W9 = Q(p.W2, shift + 8), W10 = Q(p.W2, shift + 16), W11 = Q(p.W2, shift + 24),
            W12 = Q(p.W3, shift), W13 = Q(p.W3, shift + 8), W14 = Q(p.W3, shift + 16), W15 = Q(p.W3, shift + 24),
        };

        /// <summary>q = u − 8 for the nibble u at <paramref name="bit"/>, by the magic-number trick (exact).</summary>
        private static float Q(uint word, int bit) => Interop.IntAsFloat(0x4B000000u | ((word >> bit) & 0xFu)) - MagicBias;

        /// <summary>Σ_i x[at + i] · Wi, left to right.</summary>
        public readonly float Dot(ArrayView<float> x, long at)
        {
            float d = x[at] * W0;
            d += x[at + 1] * W1; d += x[at + 2] * W2; d += x[at + 3] * W3;
            d += x[at + 4] * W4; d += x[at + 5] * W5; d += x[at + 6] * W6; d += x[at + 7] * W7;
            d += x[at + 8] * W8; d += x[at + 9] * W9; d += x[at + 10] * W10; d += x[at + 11] * W11;
            d += x[at + 12] * W12; d += x[at + 13] * W13; d += x[at + 14] * W14; d += x[at + 15] * W15;
            return d;
        }

        /// <summary><see cref="Dot"/> for a run that may pass column <paramref name="k"/>: x beyond it reads as 0 (q is 0 there).</summary>
        public readonly float DotClipped(ArrayView<float> x, long xRow, int c, int k)
        {
            float d = X(x, xRow, c, k) * W0;
            d += X(x, xRow, c + 1, k) * W1; d += X(x, xRow, c + 2, k) * W2; d += X(x, xRow, c + 3, k) * W3;
            d += X(x, xRow, c + 4, k) * W4; d += X(x, xRow, c + 5, k) * W5; d += X(x, xRow, c + 6, k) * W6; d += X(x, xRow, c + 7, k) * W7;
            d += X(x, xRow, c + 8, k) * W8; d += X(x, xRow, c + 9, k) * W9; d += X(x, xRow, c + 10, k) * W10; d += X(x, xRow, c + 11, k) * W11;
            d += X(x, xRow, c + 12, k) * W12; d += X(x, xRow, c + 13, k) * W13; d += X(x, xRow, c + 14, k) * W14; d += X(x, xRow, c + 15, k) * W15;
            return d;
        }

        private static float X(ArrayView<float> x, long xRow, int column, int k) => column < k ? x[xRow + column] : 0f;
    }
}
