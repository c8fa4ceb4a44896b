namespace QSpec.Kernels.Ops;

/// <summary>Scalar references for RMSNorm, SwiGLU, residual add and argmax.</summary>
public static class ElementwiseReference
{
    /// <summary>Y[m, :] = X[m, :] · w / sqrt(mean(X[m, :]²) + eps); sum of squares in ascending order.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int rows, int dim, float eps)
    {
        for (int m = 0; m < rows; m++)
        {
            var xr = x.Slice(m * dim, dim);
            float ss = 0f;
            for (int i = 0; i < dim; i++) ss += xr[i] * xr[i];
            float inv = 1f / MathF.Sqrt(ss / dim + eps);
            var yr = y.Slice(m * dim, dim);
            for (int i = 0; i < dim; i++) yr[i] = weight[i] * (inv * xr[i]);
        }
    }

    /// <summary>gate = silu(gate) · up, silu(v) = v / (1 + e^-v).</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float v = gate[i];
            gate[i] = v / (1f + MathF.Exp(-v)) * up[i];
        }
    }

    /// <summary>x += delta.</summary>
    public static void Add(Span<float> x, ReadOnlySpan<float> delta)
    {
        for (int i = 0; i < x.Length; i++) x[i] += delta[i];
    }

    /// <summary>Index of the maximum; the first index on ties.</summary>
    public static int Argmax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
