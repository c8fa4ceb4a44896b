using ILGPU;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>One-thread-per-element kernels: embedding gather, SwiGLU, residual add.</summary>
internal static class ElementwiseKernels
{
    /// <summary>X[m, j] = table[tokens[m], j] (auto-grouped over M · dim).</summary>
    public static void Embedding(Index1D index, ArrayView<float> table, ArrayView<int> tokens, ArrayView<float> x, int dim)
    {
        int m = index / dim, j = index % dim;
        x[index] = table[(long)tokens[m] * dim + j];
    }

    /// <summary>gate = silu(gate) · up. On CUDA MathF.Exp lowers to ex2.approx (tolerance).</summary>
    public static void SwiGlu(Index1D i, ArrayView<float> gate, ArrayView<float> up) => gate[i] = SiluTimes(gate[i], up[i]);

    /// <summary>silu(v) · u = v / (1 + e^(−v)) · u: the one formula of SwiGlu and of the fused linear's SwiGLU epilogue.</summary>
    public static float SiluTimes(float v, float u) => v / (1f + MathF.Exp(-v)) * u;

    /// <summary>x += delta (exact).</summary>
    public static void Add(Index1D i, ArrayView<float> x, ArrayView<float> delta) => x[i] += delta[i];
}
