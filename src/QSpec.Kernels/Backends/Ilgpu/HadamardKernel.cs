using ILGPU;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// One butterfly stage of the blockwise Walsh–Hadamard transform, one thread per pair; the host launches
/// log2(blockSize) stages with span 1, 2, 4, … and the last stage also applies 1/sqrt(blockSize).
/// Each stage does exactly the reference's additions and the final product of a sum cannot be contracted into an FMA,
/// so the result equals <see cref="Ops.HadamardReference.Transform"/> bit for bit.
/// </summary>
internal static class HadamardKernel
{
    /// <summary>The kernel (auto-grouped over M · dim / 2 pairs).</summary>
    public static void Stage(Index1D pair, ArrayView<float> x, HadamardStage s)
    {
        int pairsPerRow = s.Dim / 2, pairsPerBlock = s.BlockSize / 2;
        int m = pair / pairsPerRow, q = pair % pairsPerRow;
        int block = q / pairsPerBlock, p = q % pairsPerBlock;
        int j = p / s.Span * 2 * s.Span + p % s.Span;
        long o = (long)m * s.Dim + (long)block * s.BlockSize + j;
        float a = x[o], c = x[o + s.Span];
        float sum = a + c, difference = a - c;
        if (s.IsLast != 0)
        {
            sum *= s.Norm;
            difference *= s.Norm;
        }
        x[o] = sum;
        x[o + s.Span] = difference;
    }
}
