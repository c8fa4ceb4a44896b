using QSpec.Kernels.Formats;

namespace QSpec.Quantization;

/// <summary>
/// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers")
/// for one linear layer, into the <see cref="Int4Matrix"/> format.
/// </summary>
/// <remarks>
/// <para>Columns are quantized one at a time; the rounding error of column j, divided by U[j, j], is spread over the
/// not-yet-quantized columns through row j of U, the upper Cholesky factor of H⁻¹ (H dampened by
/// <see cref="QuantizerOptions.Damp"/>·mean(diag H)). Updates to columns beyond the current block of
/// <see cref="QuantizerOptions.BlockSize"/> columns are applied once per block ("lazy batches").</para>
/// <para><b>Groups.</b> A group's scales (one per output channel) are formed the first time one of its columns is
/// reached, from the group's current, error-updated weights: without act-order this is the standard GPTQ behaviour
/// (scales computed when the group starts); with act-order it keeps groups contiguous in the original column order,
/// as <see cref="Int4Matrix"/> requires. The clip search (<see cref="QuantizerOptions.ClipSearch"/>) weights each column's
/// squared rounding error by its Hessian diagonal H[j, j] (dead columns: 1), the output error that rounding alone causes.</para>
/// <para><b>Dead columns</b> (diag H = 0: the input is always zero) get H[j, j] = 1 and weight 0.</para>
/// <para>Everything runs in double in a fixed order, so the result is deterministic.</para>
/// </remarks>
public static class GptqQuantizer
{
    private const int MaxDampRetries = 6;

    /// <summary>Quantizes W[N, K] (row-major) given the layer Hessian H[K, K] (row-major).</summary>
    /// <exception cref="ArgumentException">Shapes disagree or H has a non-finite entry.</exception>
    public static Int4Matrix Quantize(ReadOnlySpan<float> weights, int rows, int columns, ReadOnlySpan<double> hessian, QuantizerOptions options)
    {
        options.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        if (weights.Length != (long)rows * columns)
            throw new ArgumentException($"Expected {(long)rows * columns} weights for {rows}x{columns}, got {weights.Length}.", nameof(weights));
        if (hessian.Length != (long)columns * columns)
            throw new ArgumentException($"Hessian has {hessian.Length} entries, expected {columns}x{columns}.", nameof(hessian));
        foreach (var v in hessian)
            if (!double.IsFinite(v)) throw new ArgumentException($"Hessian has a non-finite entry ({v}).", nameof(hessian));

        int n = rows, k = columns;
        var perm = ColumnOrder(hessian, k, options.ActOrder);
        // Wt: column-major working copy in permuted order, Wt[p·N + r] = W[r, perm[p]].
        var wt = new double[(long)k * n];
        var h = new double[k * k];
        for (int p = 0; p < k; p++)
        {
            int c = perm[p];
            bool dead = hessian[c * k + c] == 0;
            for (int r = 0; r < n; r++) wt[(long)p * n + r] = dead ? 0 : weights[r * k + c];
            for (int q = 0; q < k; q++) h[p * k + q] = hessian[c * k + perm[q]];
            if (dead) h[p * k + p] = 1;
        }
        var diag = new double[k];
        for (int p = 0; p < k; p++) diag[p] = h[p * k + p];
        var u = UpperFactorOfInverse(h, k, options.Damp);

        var result = Int4Matrix.CreateZero(n, k, options.GroupSize);
        int g = result.EffectiveGroupSize;
        var groupReady = new bool[result.GroupCount];
        var clipRatios = options.ClipRatios();
        int bs = options.BlockSize;
        var err = new double[(long)Math.Min(bs, k) * n];
        for (int i1 = 0; i1 < k; i1 += bs)
        {
            int i2 = Math.Min(k, i1 + bs);
            for (int j = i1; j < i2; j++)
            {
                int gi = perm[j] / g;
                if (!groupReady[gi])
                {
                    SetGroupScales(result, gi, wt, err, u, perm, diag, i1, i2, j, clipRatios);
                    groupReady[gi] = true;
                }
                QuantizeColumn(result, wt, err, u, perm, i1, i2, j);
            }
            // Lazy batch: W[:, i2:] -= Err · U[i1:i2, i2:].
            for (int p = i2; p < k; p++)
            {
                var col = wt.AsSpan(p * n, n);
                for (int t = i1; t < i2; t++)
                {
                    double coef = u[t * k + p];
                    if (coef == 0) continue;
                    var e = err.AsSpan((t - i1) * n, n);
                    for (int r = 0; r < n; r++) col[r] -= coef * e[r];
                }
            }
        }
        return result;
    }

    /// <summary>Column processing order: identity, or decreasing diag(H) with ties in index order (stable).</summary>
    private static int[] ColumnOrder(ReadOnlySpan<double> hessian, int k, bool actOrder)
    {
        var perm = Enumerable.Range(0, k).ToArray();
        if (!actOrder) return perm;
        var diag = new double[k];
        for (int i = 0; i < k; i++) diag[i] = hessian[i * k + i];
        return perm.OrderByDescending(i => diag[i]).ThenBy(i => i).ToArray();
    }

    /// <summary>
    /// U with H⁻¹ = Uᵀ·U, after adding damp·mean(diag H) to the diagonal. If H is still not numerically positive
    /// definite the dampening is multiplied by 10 and the factorization retried (deterministically).
    /// </summary>
    private static double[] UpperFactorOfInverse(double[] h, int k, double damp)
    {
        double mean = 0;
        for (int i = 0; i < k; i++) mean += h[i * k + i];
        mean /= k;
        var a = new double[k * k];
        for (int attempt = 0; attempt < MaxDampRetries; attempt++, damp *= 10)
        {
            h.CopyTo(a, 0);
            for (int i = 0; i < k; i++) a[i * k + i] += damp * mean;
            if (!Cholesky.TryFactor(a, k)) continue;
            var inv = new double[k * k];
            Cholesky.InvertFromFactor(a, k, inv);
            if (!Cholesky.TryFactor(inv, k)) continue;
            // inv now holds L with H⁻¹ = L·Lᵀ; U = Lᵀ.
            var u = new double[k * k];
            for (int i = 0; i < k; i++)
                for (int j = i; j < k; j++) u[i * k + j] = inv[j * k + i];
            return u;
        }
        throw new InvalidOperationException($"The {k}x{k} Hessian is not positive definite even with dampening {damp / 10} x mean(diag).");
    }

    /// <summary>
    /// Scales of group <paramref name="gi"/> from its columns' current values. A column p beyond the block still lacks
    /// this block's pending updates, so its current value is Wt[p] − Σ_{t &lt; j} Err[t]·U[t, p] over the block.
    /// </summary>
    private static void SetGroupScales(Int4Matrix m, int gi, double[] wt, double[] err, double[] u, int[] perm, double[] diag,
                                       int i1, int i2, int j, float[] clipRatios)
    {
        int n = m.Rows, k = m.Columns, g = m.EffectiveGroupSize;
        int start = gi * g, end = Math.Min(k, start + g);
        var positions = new List<int>(end - start);
        for (int p = j; p < k; p++) if (perm[p] >= start && perm[p] < end) positions.Add(p);
        var current = new float[positions.Count * n]; // [column][row]
        for (int c = 0; c < positions.Count; c++)
        {
            int p = positions[c];
            for (int r = 0; r < n; r++)
            {
                double v = wt[(long)p * n + r];
                if (p >= i2)
                    for (int t = i1; t < j; t++) v -= err[(long)(t - i1) * n + r] * u[t * k + p];
                current[c * n + r] = (float)v;
            }
        }
        var values = new float[positions.Count];
        var importance = positions.Select(p => diag[p]).ToArray();
        for (int r = 0; r < n; r++)
        {
            for (int c = 0; c < values.Length; c++) values[c] = current[c * n + r];
            m.Scales[r * m.GroupCount + gi] = GroupScale.Choose(values, clipRatios, importance);
        }
    }

    /// <summary>Rounds permuted column j and pushes its scaled error into the rest of the block.</summary>
    private static void QuantizeColumn(Int4Matrix m, double[] wt, double[] err, double[] u, int[] perm, int i1, int i2, int j)
    {
        int n = m.Rows, k = m.Columns, c = perm[j];
        double d = u[j * k + j];
        var col = wt.AsSpan(j * n, n);
        var e = err.AsSpan((j - i1) * n, n);
        for (int r = 0; r < n; r++)
        {
            float scale = m.GetScale(r, c);
            int q = Int4Matrix.QuantizeValue((float)col[r], scale);
            m.SetValue(r, c, q);
            e[r] = (col[r] - (double)q * scale) / d;
        }
        for (int p = j + 1; p < i2; p++)
        {
            double coef = u[j * k + p];
            if (coef == 0) continue;
            var target = wt.AsSpan(p * n, n);
            for (int r = 0; r < n; r++) target[r] -= coef * e[r];
        }
    }
}
