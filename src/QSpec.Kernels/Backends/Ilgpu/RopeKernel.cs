using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Interleaved RoPE in place, one thread per (row, head, pair). cos/sin come from a device table
/// [position][headSize / 2][cos, sin] that the backend fills on the host with the reference's own float formulas
/// (see <see cref="RopeTable"/>), so no trigonometry runs on the device and the result equals the reference bit for bit
/// (products rounded with mul.rn on CUDA).
/// </summary>
internal static class RopeKernel
{
    /// <summary>The kernel (auto-grouped over rows · heads · headSize / 2).</summary>
    public static void Run(Index1D index, ArrayView<float> x, ArrayView<int> positions, ArrayView<float> table, int heads, int headSize)
    {
        int half = headSize / 2;
        int i = index % half, h = index / half % heads, m = index / half / heads;
        long t = ((long)positions[m] * half + i) * 2;
        float c = table[t], sn = table[t + 1];
        long o = (long)m * heads * headSize + h * headSize + 2 * i;
        float a = x[o], b = x[o + 1];
        x[o] = Even(a, b, c, sn);
        x[o + 1] = Odd(a, b, c, sn);
    }

    /// <summary>Element 2i of a rotated pair (a, b) = (x[2i], x[2i + 1]): a·cos − b·sin, each product rounded once.</summary>
    public static float Even(float a, float b, float c, float sn) => Add(Mul(a, c), -Mul(b, sn));

    /// <summary>Element 2i + 1 of a rotated pair: a·sin + b·cos.</summary>
    public static float Odd(float a, float b, float c, float sn) => Add(Mul(a, sn), Mul(b, c));
}
