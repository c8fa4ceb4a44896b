using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// W4A4 / W4A8 integer linear with dp4a: Y[m, n] = s_a[m] · Σ_g s_w[n, g] · Σ_{k∈g} q_a[m, k] · q_w[n, k].
/// </summary>
/// <remarks>
/// <para>One warp per output channel n, looping over the M rows. A packed weight word holds columns c..c+3 (low
/// nibbles) and c+32..c+35 (high nibbles); each nibble quad is sign-extended to four bytes and multiplied with the
/// matching activation word by one dp4a.</para>
/// <para>Exactness: the int32 group sums are exact in any order. Per channel, lanes stride the row and an integer warp
/// reduction finishes. Per group, lane l owns groups l, l + 32, …; the float terms (float)dot · s_w are then added in
/// ascending g by every lane through warp shuffles, with mul.rn/add.rn on CUDA (no FMA contraction), so the result
/// equals <see cref="Ops.LinearReference.Int"/> bit for bit.</para>
/// </remarks>
internal static class LinearIntKernel
{
    /// <summary>The kernel (explicitly grouped, one warp per group, grid N).</summary>
    public static void Run(ArrayView<int> qa, ArrayView<float> sa, ArrayView<uint> packed, ArrayView<float> scales,
                           ArrayView<float> y, LinearShape s)
    {
        int lane = Warp.LaneIdx, warpSize = Warp.WarpSize;
        int n = Grid.IdxX;
        if (n >= s.N) return;
        int rowWords = s.PaddedK / 8;
        long wRow = (long)n * rowWords;
        for (int m = 0; m < s.Rows; m++)
        {
            long aRow = (long)m * (s.PaddedK / 4);
            float acc = 0f;
            if (s.GroupSize == 0)
            {
                int dot = 0;
                for (int w = lane; w < rowWords; w += warpSize)
                {
                    uint p = packed[wRow + w];
                    long aw = aRow + w / 8 * 16 + w % 8; // activation word of the low nibbles; the high ones are 8 words on
                    dot = Dot4(NibblesToSignedBytes(p & LowNibbles), qa[aw], dot);
                    dot = Dot4(NibblesToSignedBytes((p >> 4) & LowNibbles), qa[aw + 8], dot);
                }
                acc = Add(acc, Mul(WarpSumInt(dot), scales[n]));
            }
            else
            {
                for (int g0 = 0; g0 < s.GroupCount; g0 += warpSize)
                {
                    int g = g0 + lane;
                    float term = 0f;
                    if (g < s.GroupCount)
                    {
                        int dot = 0;
                        int end = Math.Min(s.K, (g + 1) * s.GroupSize);
                        for (int c = g * s.GroupSize; c < end; c += 4)
                        {
                            int within = c % 64;
                            uint p = packed[wRow + c / 64 * 8 + within % 32 / 4];
                            uint nibbles = within < 32 ? p & LowNibbles : (p >> 4) & LowNibbles;
                            dot = Dot4(NibblesToSignedBytes(nibbles), qa[aRow + c / 4], dot);
                        }
                        term = Mul(dot, scales[n * s.GroupCount + g]);
                    }
                    int count = Math.Min(warpSize, s.GroupCount - g0);
                    for (int j = 0; j < count; j++) acc = Add(acc, Warp.Shuffle(term, j));
                }
            }
            if (lane == 0) y[(long)m * s.N + n] = Mul(acc, sa[m]);
        }
    }
}
