using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// W4A4 / W4A8 integer linear on the INT8 tensor cores (<see cref="MmaInt8"/>), for calls of more rows than the dp4a
/// kernel keeps in registers: the same Y[m, n] = s_a[m] · Σ_g s_w[n, g] · Σ_{k∈g} q_a[m, k] · q_w[n, k] as
/// <see cref="LinearIntKernel"/>, bit for bit (<see cref="Ops.LinearReference.Int"/>). <see cref="RunMany"/> and
/// <see cref="RunSwiGlu"/> are the fused forms over the same tile arithmetic (<c>Tile</c>).
/// </summary>
/// <remarks>
/// <para><b>Tiles.</b> One warp per tile of 16 output channels (mma's M), in passes of 16 rows of the call (two mmas of
/// N = 8 sharing each weight fragment), over the whole of K in steps of 32 columns (mma's K). Weights are A: a 64-column block of a channel is 8 packed words, word j
/// holding columns 4j..4j+3 in its low nibbles and 32+4j..32+4j+3 in its high ones, so the fragment registers a0..a3
/// of a step are words tig and tig + 4 of channels gid and gid + 8, the low nibbles for the block's first 32 columns
/// and the high for the second, each sign-extended by <see cref="NibblesToSignedBytes"/>. Activations are B: words
/// 8·step + tig and + 4 of row gid, as stored (4 columns per word). No repacking, no shared memory.</para>
/// <para><b>Exactness.</b> The int32 sums of one scale group are exact in any order (the mma's too). At the end of each
/// group (a group is 1, 2 or 4 steps; per channel, all of K) every lane turns its four sums into (float)dot · s_w and
/// adds them to its float accumulators in ascending g, with mul.rn/add.rn on CUDA, then multiplies by s_a once: the
/// reference's order, for every row of any call. Padding columns hold q = 0 and only add zeros.</para>
/// <para><b>Cost.</b> The weights are read once per 16 rows of the call (from L2 after the first pass), each word once
/// per pass for both halves of its block; a warp issues one mma per 32 columns per 16 × 8 tile. Calls of 8 rows or fewer stay on the dp4a kernel, which reads them once.</para>
/// </remarks>
internal static class LinearIntMmaKernel
{
    /// <summary>Output channels per warp tile (mma's M).</summary>
    public const int TileChannels = 16;
    /// <summary>Rows of the call per pass over the weights: two mmas of 8 (mma's N) share each weight fragment.</summary>
    public const int TileRows = 16;
    /// <summary>Warps per thread group.</summary>
    public const int WarpsPerGroup = 4;

    /// <summary>The kernel (explicitly grouped, 32-lane warps, one channel tile per warp, any grid).</summary>
    public static void Run(ArrayView<int> qa, ArrayView<float> sa, ArrayView<uint> packed, ArrayView<float> scales,
                           ArrayView<float> y, LinearShape s)
    {
        int warps = Group.DimX / Warp.WarpSize, tiles = Tiles(s.N);
        for (int tBase = Grid.IdxX * warps; tBase < tiles; tBase += Grid.DimX * warps)
        {
            int t = tBase + Warp.WarpIdx;
            if (t >= tiles) continue; // uniform over the warp
            int n0 = t * TileChannels;
            for (int m0 = 0; m0 < s.Rows; m0 += TileRows)
                Tile(qa, sa, packed, scales, n0, s.N, m0, s).Store(y, n0, s.N, m0, s.Rows, accumulate: 0);
        }
    }

    /// <summary>
    /// LinearMany and LinearAdd in one launch: the tiles of up to three matrices (<see cref="MatrixSet"/>; a tile never
    /// spans two), each computed as <see cref="Run"/> computes it, stored (<paramref name="accumulate"/> = 0) or added to
    /// the output (1, the residual epilogue).
    /// </summary>
    public static void RunMany(ArrayView<int> qa, ArrayView<float> sa, MatrixSet w, int accumulate, LinearShape s)
    {
        int warps = Group.DimX / Warp.WarpSize;
        int t0 = Tiles(w.N0), t1 = Tiles(w.N1), tiles = Tiles(w);
        for (int tBase = Grid.IdxX * warps; tBase < tiles; tBase += Grid.DimX * warps)
        {
            int t = tBase + Warp.WarpIdx;
            if (t >= tiles) continue;
            int which = t < t0 ? 0 : t < t0 + t1 ? 1 : 2;
            int n0 = (t - (which == 0 ? 0 : which == 1 ? t0 : t0 + t1)) * TileChannels, width = w.Width(which);
            var packed = w.Packed(which);
            var scales = w.Scales(which);
            var y = w.Output(which);
            for (int m0 = 0; m0 < s.Rows; m0 += TileRows)
                Tile(qa, sa, packed, scales, n0, width, m0, s).Store(y, n0, width, m0, s.Rows, accumulate);
        }
    }

    /// <summary>LinearSwiGlu: the tiles of W1 and W3 as <see cref="Run"/> computes them, then gate = silu(x·W1ᵀ) · (x·W3ᵀ).</summary>
    public static void RunSwiGlu(ArrayView<int> qa, ArrayView<float> sa, ArrayView<uint> packed1, ArrayView<float> scales1,
                                 ArrayView<uint> packed3, ArrayView<float> scales3, ArrayView<float> gate, LinearShape s)
    {
        int warps = Group.DimX / Warp.WarpSize, tiles = Tiles(s.N);
        for (int tBase = Grid.IdxX * warps; tBase < tiles; tBase += Grid.DimX * warps)
        {
            int t = tBase + Warp.WarpIdx;
            if (t >= tiles) continue;
            int n0 = t * TileChannels;
            for (int m0 = 0; m0 < s.Rows; m0 += TileRows)
            {
                var g = Tile(qa, sa, packed1, scales1, n0, s.N, m0, s);
                var u = Tile(qa, sa, packed3, scales3, n0, s.N, m0, s);
                g.StoreSwiGlu(u, gate, n0, s.N, m0, s.Rows);
            }
        }
    }

    /// <summary>Channel tiles of a matrix of <paramref name="n"/> channels.</summary>
    public static int Tiles(int n) => (n + TileChannels - 1) / TileChannels;

    /// <summary>Channel tiles of a set's matrices (a tile never spans two): the warps <see cref="RunMany"/> needs.</summary>
    public static int Tiles(MatrixSet w) => Tiles(w.N0) + Tiles(w.N1) + Tiles(w.N2);

    /// <summary>
    /// This lane's outputs of the tile at channels n0.., rows m0.. (two <see cref="Quad"/>s: rows m0..m0+7 and m0+8..m0+15),
    /// on every lane of the warp (a warp-uniform call). Each block's four weight words per lane are loaded once and feed
    /// both halves of the block and both row halves (the second mma only where the pass has more than 8 rows). Channels
    /// past <paramref name="width"/> read the last channel's weights and rows past the call read zero activations;
    /// neither is stored.
    /// </summary>
    private static Quads Tile(ArrayView<int> qa, ArrayView<float> sa, ArrayView<uint> packed, ArrayView<float> scales,
                              int n0, int width, int m0, LinearShape s)
    {
        int lane = Warp.LaneIdx, gid = lane >> 2, tig = lane & 3;
        int rowWords = s.PaddedK / 8, aStride = s.PaddedK / 4, steps = s.PaddedK / 32;
        int top = Math.Min(n0 + gid, width - 1), bottom = Math.Min(n0 + gid + 8, width - 1);
        long wTop = (long)top * rowWords + tig, wBottom = (long)bottom * rowWords + tig;
        bool second = m0 + Half < s.Rows; // uniform: the pass has rows in its second half
        int r0 = m0 + gid, r1 = r0 + Half;
        bool live0 = r0 < s.Rows, live1 = r1 < s.Rows;
        long a0Row = (long)Math.Min(r0, s.Rows - 1) * aStride + tig, a1Row = (long)Math.Min(r1, s.Rows - 1) * aStride + tig;
        var acc = default(Quads);
        int c0 = 0, c1 = 0, c2 = 0, c3 = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0;
        for (int step = 0; step < steps; step += 2)
        {
            long word = (step >> 1) * 8;
            uint pTop = packed[wTop + word], pBottom = packed[wBottom + word];
            uint pTopHigh = packed[wTop + word + 4], pBottomHigh = packed[wBottom + word + 4];
            for (int h = 0; h < 2; h++) // the block's columns 0..31 (low nibbles), then 32..63 (high)
            {
                int at = step + h, shift = 4 * h;
                int a0 = NibblesToSignedBytes((pTop >> shift) & LowNibbles);
                int a1 = NibblesToSignedBytes((pBottom >> shift) & LowNibbles);
                int a2 = NibblesToSignedBytes((pTopHigh >> shift) & LowNibbles);
                int a3 = NibblesToSignedBytes((pBottomHigh >> shift) & LowNibbles);
                MmaInt8.M16N8K32(ref c0, ref c1, ref c2, ref c3, a0, a1, a2, a3,
                                 live0 ? qa[a0Row + at * 8] : 0, live0 ? qa[a0Row + at * 8 + 4] : 0);
                if (second)
                    MmaInt8.M16N8K32(ref d0, ref d1, ref d2, ref d3, a0, a1, a2, a3,
                                     live1 ? qa[a1Row + at * 8] : 0, live1 ? qa[a1Row + at * 8 + 4] : 0);
                int g = s.GroupOf(at * 32);
                if (at + 1 < steps && s.GroupOf((at + 1) * 32) == g) continue; // the group goes on (uniform)
                float sTop = scales[(long)top * s.GroupCount + g], sBottom = scales[(long)bottom * s.GroupCount + g];
                acc.Low = acc.Low.AddScaled(c0, c1, c2, c3, sTop, sBottom);
                acc.High = acc.High.AddScaled(d0, d1, d2, d3, sTop, sBottom);
                c0 = c1 = c2 = c3 = d0 = d1 = d2 = d3 = 0;
            }
        }
        // Columns of C are rows of the call: 2·tig and 2·tig + 1 of each half.
        int q = m0 + 2 * tig;
        acc.Low = acc.Low.TimesRowScales(sa[Math.Min(q, s.Rows - 1)], sa[Math.Min(q + 1, s.Rows - 1)]);
        acc.High = acc.High.TimesRowScales(sa[Math.Min(q + Half, s.Rows - 1)], sa[Math.Min(q + Half + 1, s.Rows - 1)]);
        return acc;
    }

    /// <summary>Rows per mma (its N): a pass of <see cref="TileRows"/> is two of them.</summary>
    private const int Half = 8;

    /// <summary>A lane's outputs of a pass: rows m0..m0+7 (<see cref="Low"/>) and m0+8..m0+15 (<see cref="High"/>).</summary>
    internal struct Quads
    {
        public Quad Low, High;

        public readonly void Store(ArrayView<float> y, int n0, int width, int m0, int rows, int accumulate)
        {
            Low.Store(y, n0, width, m0, rows, accumulate);
            High.Store(y, n0, width, m0 + Half, rows, accumulate);
        }

        public readonly void StoreSwiGlu(Quads up, ArrayView<float> gate, int n0, int width, int m0, int rows)
        {
            Low.StoreSwiGlu(up.Low, gate, n0, width, m0, rows);
            High.StoreSwiGlu(up.High, gate, n0, width, m0 + Half, rows);
        }
    }

    /// <summary>
    /// A lane's four elements of a 16 × 8 tile (the mma's C layout): V0 = (channel n0 + gid, row m0 + 2·tig), V1 = (n0 + gid,
    /// m0 + 2·tig + 1), V2 = (n0 + gid + 8, m0 + 2·tig), V3 = (n0 + gid + 8, m0 + 2·tig + 1).
    /// </summary>
    internal struct Quad
    {
        public float V0, V1, V2, V3;

        /// <summary>+= (float)dot · scale, one rounding each (mul.rn, add.rn): the group step of the reference.</summary>
        public readonly Quad AddScaled(int c0, int c1, int c2, int c3, float sTop, float sBottom) => new()
        {
            V0 = Add(V0, Mul(c0, sTop)), V1 = Add(V1, Mul(c1, sTop)), V2 = Add(V2, Mul(c2, sBottom)), V3 = Add(V3, Mul(c3, sBottom)),
        };

        /// <summary>Times the activation scales of the lane's two rows.</summary>
        public readonly Quad TimesRowScales(float s0, float s1) => new() { V0 = Mul(V0, s0), V1 = Mul(V1, s1), V2 = Mul(V2, s0), V3 = Mul(V3, s1) };

        /// <summary>Stores (accumulate = 0) or adds (1) the elements inside [width) × [rows) into y[row · width + channel].</summary>
        public readonly void Store(ArrayView<float> y, int n0, int width, int m0, int rows, int accumulate)
        {
            int lane = Warp.LaneIdx, top = n0 + (lane >> 2), bottom = top + 8, r0 = m0 + 2 * (lane & 3), r1 = r0 + 1;
            Put(y, top, r0, width, rows, V0, accumulate);
            Put(y, top, r1, width, rows, V1, accumulate);
            Put(y, bottom, r0, width, rows, V2, accumulate);
            Put(y, bottom, r1, width, rows, V3, accumulate);
        }

        /// <summary>gate = silu(this) · up, element by element, inside [width) × [rows).</summary>
        public readonly void StoreSwiGlu(Quad up, ArrayView<float> gate, int n0, int width, int m0, int rows)
        {
            var g = this;
            g.V0 = ElementwiseKernels.SiluTimes(V0, up.V0);
            g.V1 = ElementwiseKernels.SiluTimes(V1, up.V1);
            g.V2 = ElementwiseKernels.SiluTimes(V2, up.V2);
            g.V3 = ElementwiseKernels.SiluTimes(V3, up.V3);
            g.Store(gate, n0, width, m0, rows, accumulate: 0);
        }

        private static void Put(ArrayView<float> y, int channel, int row, int width, int rows, float value, int accumulate)
        {
            if (channel >= width || row >= rows) return;
            long i = (long)row * width + channel;
            if (accumulate != 0) y[i] += value;
            else y[i] = value;
        }
    }
}
