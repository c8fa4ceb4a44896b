using ILGPU;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Argmax on the device, one group of <see cref="Threads"/> threads: each thread scans a strided slice keeping the
/// first maximum, then a shared-memory tree keeps the larger value, or the smaller index on ties, so the answer is the
/// reference's first maximum. (NaN inputs are not ordered and may give a different index than the reference.)
/// </summary>
internal static class ArgmaxKernel
{
    /// <summary>Threads in the single group.</summary>
    public const int Threads = 256;

    /// <summary>The kernel (explicitly grouped: grid 1, group <see cref="Threads"/>); writes the index to result[0].</summary>
    public static void Run(ArrayView<float> x, long offset, int length, ArrayView<int> result)
    {
        var values = SharedMemory.Allocate<float>(Threads);
        var indices = SharedMemory.Allocate<int>(Threads);
        int tid = Group.IdxX;
        float best = float.NegativeInfinity;
        int bestIndex = int.MaxValue;
        for (int i = tid; i < length; i += Threads)
        {
            float v = x[offset + i];
            if (bestIndex == int.MaxValue || v > best) { best = v; bestIndex = i; }
        }
        values[tid] = best;
        indices[tid] = bestIndex;
        Group.Barrier();
        for (int stride = Threads / 2; stride > 0; stride /= 2)
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
        if (tid == 0) result[0] = indices[0];
    }
}
