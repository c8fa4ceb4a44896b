using ILGPU;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Argmax on the device of consecutive rows, one group per row of a power-of-two number of threads, at most
/// <see cref="Threads"/> (fewer where the device's groups are smaller, e.g. on the CPU simulator; see
/// <see cref="GroupSize"/>): each thread scans a strided slice of its row keeping the
/// first maximum, then a shared-memory tree keeps the larger value, or the smaller index on ties, so the answer is the
/// reference's first maximum. (NaN inputs are not ordered and may give a different index than the reference.)
/// </summary>
internal static class ArgmaxKernel
{
    /// <summary>Most threads in the single group (the size of the shared arrays).</summary>
    public const int Threads = 256;

    /// <summary>The group size to launch with: the largest power of two ≤ min(<see cref="Threads"/>, device limit).</summary>
    public static int GroupSize(int maxThreadsPerGroup) =>
        1 << System.Numerics.BitOperations.Log2((uint)Math.Min(Threads, maxThreadsPerGroup));

    /// <summary>
    /// The kernel (explicitly grouped: grid = rows, group <see cref="GroupSize"/>): group r reads
    /// x[offset + r·length ..][..length] and writes the index of its first maximum to result[r].
    /// </summary>
    public static void Run(ArrayView<float> x, long offset, int length, ArrayView<int> result)
    {
        var values = SharedMemory.Allocate<float>(Threads);
        var indices = SharedMemory.Allocate<int>(Threads);
        int tid = Group.IdxX, threads = Group.DimX, row = Grid.IdxX;
        long start = offset + (long)row * length;
        float best = float.NegativeInfinity;
        int bestIndex = int.MaxValue;
        for (int i = tid; i < length; i += threads)
        {
            float v = x[start + i];
            if (bestIndex == int.MaxValue || v > best) { best = v; bestIndex = i; }
        }
        values[tid] = best;
        indices[tid] = bestIndex;
        Group.Barrier();
        for (int stride = threads / 2; stride > 0; stride /= 2)
        {
            if (tid < stride)
            {
                float other = values[tid + stride];
                int otherIndex = indices[tid + stride];
                if (other > values[tid] || (other == values[tid] && otherIndex < indices[tid]))
                {
                    values[tid] = other;
                    indices[tid] = otherIndex;
                }
            }
            Group.Barrier();
        }
        if (tid == 0) result[row] = indices[0];
    }
}
