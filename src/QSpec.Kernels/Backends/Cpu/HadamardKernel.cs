using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Blockwise fast Walsh–Hadamard transform, bit-identical to <see cref="HadamardReference"/>: stages 1, 2 and 4 run
/// inside one 8-lane vector as shuffle(x) + x·sign (each lane computes the reference's a + c or a − c), wider stages
/// are vector butterflies, then the 1/sqrt(B) scale.
/// </summary>
internal static class HadamardKernel
{
    /// <summary>Transforms X[M, D] in place over blocks of <paramref name="blockSize"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transform(Span<float> x, int rows, int dim, int blockSize, bool vector)
    {
        if (!vector || blockSize < 8 || !HadamardReference.IsPowerOfTwo(blockSize) || dim % blockSize != 0)
        {
            HadamardReference.Transform(x, rows, dim, blockSize);
            return;
        }
        var norm = Vector256.Create(1f / MathF.Sqrt(blockSize));
        var swap1 = Vector256.Create(1, 0, 3, 2, 5, 4, 7, 6);
        var swap2 = Vector256.Create(2, 3, 0, 1, 6, 7, 4, 5);
        var swap4 = Vector256.Create(4, 5, 6, 7, 0, 1, 2, 3);
        var sign1 = Vector256.Create(1f, -1f, 1f, -1f, 1f, -1f, 1f, -1f);
        var sign2 = Vector256.Create(1f, 1f, -1f, -1f, 1f, 1f, -1f, -1f);
        var sign4 = Vector256.Create(1f, 1f, 1f, 1f, -1f, -1f, -1f, -1f);
        ref float p = ref MemoryMarshal.GetReference(x);
        for (int m = 0; m < rows; m++)
            for (int b = 0; b < dim; b += blockSize)
            {
                nuint start = (nuint)(m * dim + b);
                for (nuint j = 0; j < (nuint)blockSize; j += 8)
                {
                    var v = Vector256.LoadUnsafe(ref p, start + j);
                    v = Vector256.Shuffle(v, swap1) + v * sign1;
                    v = Vector256.Shuffle(v, swap2) + v * sign2;
                    v = Vector256.Shuffle(v, swap4) + v * sign4;
                    v.StoreUnsafe(ref p, start + j);
                }
                for (int h = 8; h < blockSize; h <<= 1)
                    for (int i = 0; i < blockSize; i += h << 1)
                        for (int j = i; j < i + h; j += 8)
                        {
                            var a = Vector256.LoadUnsafe(ref p, start + (nuint)j);
                            var c = Vector256.LoadUnsafe(ref p, start + (nuint)(j + h));
                            (a + c).StoreUnsafe(ref p, start + (nuint)j);
                            (a - c).StoreUnsafe(ref p, start + (nuint)(j + h));
                        }
                for (nuint j = 0; j < (nuint)blockSize; j += 8)
                    (Vector256.LoadUnsafe(ref p, start + j) * norm).StoreUnsafe(ref p, start + j);
            }
    }
}
