using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Ops;

/// <summary>Scalar references for the three linear kernels. Every fast kernel is tested against these.</summary>
public static class LinearReference
{
    /// <summary>Y[M, N] = X[M, K] · Wᵀ, W dense [N, K]. Sums k in ascending order in float.</summary>
    public static void F32(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> w, int n, int k, Span<float> y)
    {
        for (int m = 0; m < rows; m++)
            for (int j = 0; j < n; j++)
            {
                float acc = 0f;
                var xr = x.Slice(m * k, k);
                var wr = w.Slice(j * k, k);
                for (int i = 0; i < k; i++) acc += xr[i] * wr[i];
                y[m * n + j] = acc;
            }
    }

    /// <summary>
    /// W4A16: Y[m, n] = Σ_k X[m, k] · q[n, k] · s[n, g(k)], accumulated in double so that it bounds every
    /// float summation order; fast kernels match it within a relative tolerance.
    /// </summary>
    public static void W4A16(ReadOnlySpan<float> x, int rows, Int4Matrix w, Span<float> y)
    {
        int n = w.Rows, k = w.Columns;
        for (int m = 0; m < rows; m++)
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int i = 0; i < k; i++) acc += (double)x[m * k + i] * (w.GetValue(j, i) * w.GetScale(j, i));
                y[m * n + j] = (float)acc;
            }
    }

    /// <summary>
    /// W4A4 / W4A8 integer linear: Y[m, n] = s_a[m] · Σ_g s_w[n, g] · (Σ_{k∈g} q_a[m, k] · q_w[n, k]),
    /// int32 sums per group, the group terms summed in ascending g as float: (float)dot · s_w, then · s_a.
    /// </summary>
    /// <param name="qa">Activations, row stride <see cref="Int4Matrix.PadColumns"/>(K), padding zero.</param>
    /// <param name="scales">One scale per row.</param>
    public static void Int(ReadOnlySpan<sbyte> qa, ReadOnlySpan<float> scales, int rows, Int4Matrix w, Span<float> y)
    {
        int n = w.Rows, k = w.Columns, kp = w.PaddedColumns, g = w.EffectiveGroupSize;
        for (int m = 0; m < rows; m++)
            for (int j = 0; j < n; j++)
            {
                float acc = 0f;
                for (int gi = 0; gi < w.GroupCount; gi++)
                {
                    int dot = 0;
                    for (int i = gi * g, end = Math.Min(k, i + g); i < end; i++) dot += qa[m * kp + i] * w.GetValue(j, i);
                    acc += dot * w.Scales[j * w.GroupCount + gi];
                }
                y[m * n + j] = acc * scales[m];
            }
    }
}
