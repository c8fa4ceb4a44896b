namespace QSpec.Quantization;

/// <summary>Dense symmetric positive-definite helpers on row-major n×n double matrices (GPTQ's Hessian algebra).</summary>
internal static class Cholesky
{
    /// <summary>
    /// Replaces the lower triangle of <paramref name="a"/> by L with A = L·Lᵀ and zeroes the strict upper triangle.
    /// Returns false (leaving <paramref name="a"/> partly overwritten) when A is not numerically positive definite.
    /// </summary>
    public static bool TryFactor(Span<double> a, int n)
    {
        for (int j = 0; j < n; j++)
        {
            double d = a[j * n + j];
            for (int k = 0; k < j; k++) d -= a[j * n + k] * a[j * n + k];
            if (!(d > 0) || double.IsInfinity(d)) return false;
            double ljj = Math.Sqrt(d);
            a[j * n + j] = ljj;
            for (int i = j + 1; i < n; i++)
            {
                double s = a[i * n + j];
                for (int k = 0; k < j; k++) s -= a[i * n + k] * a[j * n + k];
                a[i * n + j] = s / ljj;
            }
            for (int i = 0; i < j; i++) a[i * n + j] = 0;
        }
        return true;
    }

    /// <summary>A⁻¹ = L⁻ᵀ·L⁻¹ from the lower factor <paramref name="l"/> of A; written to <paramref name="inverse"/>.</summary>
    public static void InvertFromFactor(ReadOnlySpan<double> l, int n, Span<double> inverse)
    {
        // M = L⁻¹ (lower triangular) by forward substitution, column by column.
        var m = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            m[j * n + j] = 1.0 / l[j * n + j];
            for (int i = j + 1; i < n; i++)
            {
                double s = 0;
                for (int k = j; k < i; k++) s += l[i * n + k] * m[k * n + j];
                m[i * n + j] = -s / l[i * n + i];
            }
        }
        // inverse[i, j] = Σ_k M[k, i]·M[k, j] for k ≥ max(i, j).
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = 0;
                for (int k = i; k < n; k++) s += m[k * n + i] * m[k * n + j];
                inverse[i * n + j] = s;
                inverse[j * n + i] = s;
            }
    }
}
