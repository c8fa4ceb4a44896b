using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// W4A16 linear: Y[M, N] = X[M, K] · dequant(W)ᵀ with the INT4 weights dequantized in registers.
/// </summary>
/// <remarks>
/// <para>Layout: a group of <see cref="WarpsPerGroup"/> warps; warp w computes output channel n = group · WarpsPerGroup + w.
/// The group stages X[m0 .. m0 + 4, k0 .. k0 + 512] in shared memory (zero beyond M and K), so every weight word is
/// loaded and dequantized once per four activation rows. Lane l reads packed words l, l + 32, … of the tile (coalesced).</para>
/// <para>Float order: each lane accumulates its words in ascending order, then a butterfly warp reduction. Row m's order
/// does not depend on M or on its slot in the tile (batch invariant); it differs from the reference's double sum,
/// hence the relative tolerance in the tests.</para>
/// </remarks>
internal static class LinearW4A16Kernel
{
    /// <summary>Activation rows per shared tile.</summary>
    public const int TileRows = 4;
    /// <summary>Columns per shared tile (a multiple of 64).</summary>
    public const int TileColumns = 512;
    /// <summary>Output channels per thread group.</summary>
    public const int WarpsPerGroup = 4;

    /// <summary>The kernel (explicitly grouped: grid ceil(N / WarpsPerGroup), group WarpsPerGroup · warp size).</summary>
    public static void Run(ArrayView<float> x, ArrayView<uint> packed, ArrayView<float> scales, ArrayView<float> y, LinearShape s)
    {
        var tile = SharedMemory.Allocate<float>(TileRows * TileColumns);
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize;
        int n = Grid.IdxX * (Group.DimX / warpSize) + Warp.WarpIdx;
        bool active = n < s.N;
        int rowWords = s.PaddedK / 8;
        for (int m0 = 0; m0 < s.Rows; m0 += TileRows)
        {
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f;
            for (int k0 = 0; k0 < s.PaddedK; k0 += TileColumns)
            {
                Group.Barrier(); // the previous tile has been consumed
                for (int i = Group.IdxX; i < TileRows * TileColumns; i += Group.DimX)
                {
                    int m = m0 + i / TileColumns, k = k0 + i % TileColumns;
                    tile[i] = m < s.Rows && k < s.K ? x[(long)m * s.K + k] : 0f;
                }
                Group.Barrier();
                if (!active) continue;
                int words = Math.Min(TileColumns, s.PaddedK - k0) / 8;
                for (int w = lane; w < words; w += warpSize)
                {
                    uint p = packed[(long)n * rowWords + k0 / 8 + w];
                    // Word w of the tile: block w / 8, byte quad w % 8 → columns c..c+3 (low) and c+32..c+35 (high).
                    int c = w / 8 * 64 + w % 8 * 4;
                    float sLo = scales[n * s.GroupCount + s.GroupOf(k0 + c)];
                    float sHi = scales[n * s.GroupCount + s.GroupOf(k0 + c + 32)];
                    for (int t = 0; t < 4; t++)
                    {
                        float wl = ((int)((p >> (8 * t)) & 0xF) - 8) * sLo;
                        float wh = ((int)((p >> (8 * t + 4)) & 0xF) - 8) * sHi;
                        int lo = c + t, hi = c + 32 + t;
                        a0 += tile[lo] * wl + tile[hi] * wh;
                        a1 += tile[TileColumns + lo] * wl + tile[TileColumns + hi] * wh;
                        a2 += tile[2 * TileColumns + lo] * wl + tile[2 * TileColumns + hi] * wh;
                        a3 += tile[3 * TileColumns + lo] * wl + tile[3 * TileColumns + hi] * wh;
                    }
                }
            }
            if (!active) continue;
            a0 = WarpSum(a0); a1 = WarpSum(a1); a2 = WarpSum(a2); a3 = WarpSum(a3);
            if (lane != 0) continue;
            y[(long)m0 * s.N + n] = a0;
            if (m0 + 1 < s.Rows) y[(long)(m0 + 1) * s.N + n] = a1;
            if (m0 + 2 < s.Rows) y[(long)(m0 + 2) * s.N + n] = a2;
            if (m0 + 3 < s.Rows) y[(long)(m0 + 3) * s.N + n] = a3;
        }
    }
}
