using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// W4A4 / W4A8 integer linear with dp4a: Y[m, n] = s_a[m] · Σ_g s_w[n, g] · Σ_{k∈g} q_a[m, k] · q_w[n, k].
/// <see cref="RunMany"/> (QKV; the residual add) and <see cref="RunSwiGlu"/> are the fused forms over the same
/// per-channel arithmetic (<c>Channel</c>).
/// </summary>
/// <remarks>
/// <para>One warp per output channel n (several warps per group), rows in blocks of <see cref="BlockRows"/>: each packed weight word is loaded and
/// sign-extended once per block and multiplied into every row's int32 sums (M ≤ 8 reads the weights once). A word holds
/// columns c..c+3 (low nibbles) and c+32..c+35 (high nibbles); each nibble quad becomes four signed bytes for one dp4a
/// with the matching activation word.</para>
/// <para>Exactness: the int32 group sums are exact in any order. Per channel, lanes stride the row and an integer warp
/// reduction finishes. Per group, lane l owns groups l, l + 32, …; the float terms (float)dot · s_w are then added in
/// ascending g by every lane through warp shuffles, with mul.rn/add.rn on CUDA (no FMA contraction), so the result
/// equals <see cref="Ops.LinearReference.Int"/> bit for bit, whatever M is.</para>
/// </remarks>
internal static class LinearIntKernel
{
    /// <summary>Rows whose sums a warp keeps in registers per pass over the weights.</summary>
    public const int BlockRows = Dots8.Count;

    /// <summary>Output channels per thread group (fewer where the device's groups hold fewer warps).</summary>
    public const int WarpsPerGroup = 4;

    /// <summary>
    /// The kernel (explicitly grouped: group = warps · warp size, one channel per warp; any grid, each group striding over
    /// channel blocks, as <see cref="LinearW4A16Kernel.Run"/>).
    /// </summary>
    public static void Run(ArrayView<int> qa, ArrayView<float> sa, ArrayView<uint> packed, ArrayView<float> scales,
                           ArrayView<float> y, LinearShape s)
    {
        int lane = Warp.LaneIdx, warps = Group.DimX / Warp.WarpSize;
        for (int nBase = Grid.IdxX * warps; nBase < s.N; nBase += Grid.DimX * warps)
        {
            int n = nBase + Warp.WarpIdx;
            if (n >= s.N) continue; // uniform over the warp
            for (int m0 = 0; m0 < s.Rows; m0 += BlockRows)
            {
                int rows = Math.Min(BlockRows, s.Rows - m0);
                var v = Channel(qa, sa, packed, scales, n, m0, rows, s, lane);
                if (lane == 0) v.Store(y, (long)m0 * s.N + n, s.N, rows);
            }
        }
    }

    /// <summary>
    /// LinearMany and LinearAdd in one launch (launch shape as <see cref="Run"/>, over the set's total channels s.N):
    /// each channel of up to three matrices (<see cref="MatrixSet"/>) exactly as <see cref="Run"/> computes it, stored
    /// (<paramref name="accumulate"/> = 0) or added to the output (1, the residual epilogue).
    /// </summary>
    public static void RunMany(ArrayView<int> qa, ArrayView<float> sa, MatrixSet w, int accumulate, LinearShape s)
    {
        int lane = Warp.LaneIdx, warps = Group.DimX / Warp.WarpSize;
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
                var v = Channel(qa, sa, packed, scales, n, m0, rows, s, lane);
                if (lane != 0) continue;
                if (accumulate != 0) v.AddTo(y, (long)m0 * width + n, width, rows);
                else v.Store(y, (long)m0 * width + n, width, rows);
            }
        }
    }

    /// <summary>
    /// LinearSwiGlu (launch shape as <see cref="Run"/>): channel n of W1 and of W3 as <see cref="Run"/> computes them,
    /// then gate = silu(x·W1ᵀ) · (x·W3ᵀ) as <see cref="ElementwiseKernels.SwiGlu"/>.
    /// </summary>
    public static void RunSwiGlu(ArrayView<int> qa, ArrayView<float> sa, ArrayView<uint> packed1, ArrayView<float> scales1,
                                 ArrayView<uint> packed3, ArrayView<float> scales3, ArrayView<float> gate, LinearShape s)
    {
        int lane = Warp.LaneIdx, warps = Group.DimX / Warp.WarpSize;
        for (int nBase = Grid.IdxX * warps; nBase < s.N; nBase += Grid.DimX * warps)
        {
            int n = nBase + Warp.WarpIdx;
            if (n >= s.N) continue;
            for (int m0 = 0; m0 < s.Rows; m0 += BlockRows)
            {
                int rows = Math.Min(BlockRows, s.Rows - m0);
                var g = Channel(qa, sa, packed1, scales1, n, m0, rows, s, lane);
                var u = Channel(qa, sa, packed3, scales3, n, m0, rows, s, lane);
                if (lane == 0) g.StoreSwiGlu(u, gate, (long)m0 * s.N + n, s.N, rows);
            }
        }
    }

    /// <summary>
    /// y[m, n] for rows m0 .. m0 + rows − 1 (rows ≤ 8), on every lane of the warp: the one definition of the integer
    /// linear's arithmetic, shared by every kernel above so that they agree bit for bit.
    /// </summary>
    private static Floats8 Channel(ArrayView<int> qa, ArrayView<float> sa, ArrayView<uint> packed, ArrayView<float> scales,
                                   int n, int m0, int rows, LinearShape s, int lane)
    {
        int warpSize = Warp.WarpSize;
        int rowWords = s.PaddedK / 8, aStride = s.PaddedK / 4;
        long wRow = (long)n * rowWords;
        long aRow = (long)m0 * aStride;
        var acc = default(Floats8);
        if (s.GroupSize == 0)
        {
            var d = default(Dots8);
            for (int w = lane; w < rowWords; w += warpSize)
            {
                uint p = packed[wRow + w];
                long aw = aRow + (w >> 3) * 16 + (w & 7); // activation word of the low nibbles; the high ones are 8 on
                d = Dots8.Step(d, rows, NibblesToSignedBytes(p & LowNibbles), qa, aw, aStride);
                d = Dots8.Step(d, rows, NibblesToSignedBytes((p >> 4) & LowNibbles), qa, aw + 8, aStride);
            }
            float sw = scales[n];
            for (int r = 0; r < rows; r++) // uniform over the warp
                acc = Floats8.With(acc, r, Add(0f, Mul(WarpSumInt(d.Get(r)), sw)));
        }
        else
        {
            for (int g0 = 0; g0 < s.GroupCount; g0 += warpSize)
            {
                int g = g0 + lane;
                var terms = default(Floats8);
                if (g < s.GroupCount)
                {
                    var d = default(Dots8);
                    int end = Math.Min(s.K, (g + 1) * s.GroupSize);
                    for (int c = g * s.GroupSize; c < end; c += 4)
                    {
                        int within = c & 63;
                        uint p = packed[wRow + (c >> 6) * 8 + ((within & 31) >> 2)];
                        uint nibbles = within < 32 ? p & LowNibbles : (p >> 4) & LowNibbles;
                        d = Dots8.Step(d, rows, NibblesToSignedBytes(nibbles), qa, aRow + (c >> 2), aStride);
                    }
                    terms = Scaled(d, rows, scales[n * s.GroupCount + g]);
                }
                int count = Math.Min(warpSize, s.GroupCount - g0);
                for (int j = 0; j < count; j++) acc = AddFromLane(acc, terms, rows, j);
            }
        }
        for (int r = 0; r < rows; r++) acc = Floats8.With(acc, r, Mul(acc.Get(r), sa[m0 + r]));
        return acc;
    }

    /// <summary>The int32 sums of up to eight rows (values, so that device code only copies them).</summary>
    internal struct Dots8
    {
        public const int Count = 8;
        public int D0, D1, D2, D3, D4, D5, D6, D7;

        /// <summary>Adds the dp4a of <paramref name="w"/> with activation word <paramref name="a"/> of each of the first <paramref name="rows"/> rows.</summary>
        public static Dots8 Step(Dots8 d, int rows, int w, ArrayView<int> qa, long a, int stride)
        {
            d.D0 = Dot4(w, qa[a], d.D0);
            if (rows > 1) d.D1 = Dot4(w, qa[a + stride], d.D1);
            if (rows > 2) d.D2 = Dot4(w, qa[a + 2L * stride], d.D2);
            if (rows > 3) d.D3 = Dot4(w, qa[a + 3L * stride], d.D3);
            if (rows > 4) d.D4 = Dot4(w, qa[a + 4L * stride], d.D4);
            if (rows > 5) d.D5 = Dot4(w, qa[a + 5L * stride], d.D5);
            if (rows > 6) d.D6 = Dot4(w, qa[a + 6L * stride], d.D6);
            if (rows > 7) d.D7 = Dot4(w, qa[a + 7L * stride], d.D7);
            return d;
        }

        public readonly int Get(int r) => r switch { 0 => D0, 1 => D1, 2 => D2, 3 => D3, 4 => D4, 5 => D5, 6 => D6, _ => D7 };
    }

    /// <summary>(float)dot · scale per row, rounded once.</summary>
    private static Floats8 Scaled(Dots8 d, int rows, float scale)
    {
        var t = default(Floats8);
        t.F0 = Mul(d.D0, scale);
        if (rows > 1) t.F1 = Mul(d.D1, scale);
        if (rows > 2) t.F2 = Mul(d.D2, scale);
        if (rows > 3) t.F3 = Mul(d.D3, scale);
        if (rows > 4) t.F4 = Mul(d.D4, scale);
        if (rows > 5) t.F5 = Mul(d.D5, scale);
        if (rows > 6) t.F6 = Mul(d.D6, scale);
        if (rows > 7) t.F7 = Mul(d.D7, scale);
        return t;
    }

    /// <summary>acc += lane <paramref name="source"/>'s terms, row by row (a warp-uniform call: every lane shuffles).</summary>
    private static Floats8 AddFromLane(Floats8 acc, Floats8 terms, int rows, int source)
    {
        acc.F0 = Add(acc.F0, Warp.Shuffle(terms.F0, source));
        if (rows > 1) acc.F1 = Add(acc.F1, Warp.Shuffle(terms.F1, source));
        if (rows > 2) acc.F2 = Add(acc.F2, Warp.Shuffle(terms.F2, source));
        if (rows > 3) acc.F3 = Add(acc.F3, Warp.Shuffle(terms.F3, source));
        if (rows > 4) acc.F4 = Add(acc.F4, Warp.Shuffle(terms.F4, source));
        if (rows > 5) acc.F5 = Add(acc.F5, Warp.Shuffle(terms.F5, source));
        if (rows > 6) acc.F6 = Add(acc.F6, Warp.Shuffle(terms.F6, source));
        if (rows > 7) acc.F7 = Add(acc.F7, Warp.Shuffle(terms.F7, source));
        return acc;
    }
}
