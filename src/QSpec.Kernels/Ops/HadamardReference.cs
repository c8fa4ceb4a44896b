namespace QSpec.Kernels.Ops;

/// <summary>Scalar reference for the orthonormal fast Walsh–Hadamard transform.</summary>
public static class HadamardReference
{
    /// <summary>True when <paramref name="n"/> is a positive power of two.</summary>
    public static bool IsPowerOfTwo(int n) => n > 0 && (n & (n - 1)) == 0;

    /// <summary>
    /// Transforms each row of X[M, D] in place, blockwise over blocks of <paramref name="blockSize"/> columns
    /// (a power of two dividing D): butterflies in the Sylvester order, then × 1/sqrt(blockSize). Orthonormal and
    /// its own inverse.
    /// </summary>
    public static void Transform(Span<float> x, int rows, int dim, int blockSize)
    {
        if (!IsPowerOfTwo(blockSize) || dim % blockSize != 0)
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, $"Block size must be a power of two dividing {dim}.");
        float norm = 1f / MathF.Sqrt(blockSize);
        for (int m = 0; m < rows; m++)
            for (int b = 0; b < dim; b += blockSize)
            {
                var v = x.Slice(m * dim + b, blockSize);
                for (int h = 1; h < blockSize; h <<= 1)
                    for (int i = 0; i < blockSize; i += h << 1)
                        for (int j = i; j < i + h; j++)
                        {
                            float a = v[j], c = v[j + h];
                            v[j] = a + c;
                            v[j + h] = a - c;
                        }
                for (int i = 0; i < blockSize; i++) v[i] *= norm;
            }
    }
}
