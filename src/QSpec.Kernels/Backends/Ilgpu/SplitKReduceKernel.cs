using ILGPU;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// The split-K plan of one W4A16 launch over up to three matrices (a <see cref="MatrixSet"/>): matrix i's row of quads
/// is cut into <c>Parts</c>ᵢ runs of <c>Span</c>ᵢ quads (the last run shorter). A matrix with one part is summed whole.
/// </summary>
internal struct KSplit
{
    public int Span0, Span1, Span2;
    public int Parts0, Parts1, Parts2;

    public readonly int Span(int which) => which == 0 ? Span0 : which == 1 ? Span1 : Span2;
    public readonly int Parts(int which) => which == 0 ? Parts0 : which == 1 ? Parts1 : Parts2;

    /// <summary>The launch's grid height: its largest part count.</summary>
    public readonly int MaxParts => Math.Max(Parts0, Math.Max(Parts1, Parts2));
}

/// <summary>
/// Split-K pass 2 for the W4A16 linear: each output element is the sum of its parts' partial sums
/// (<see cref="LinearW4A16Kernel.RunPartial"/>) in ascending part order, then the launch's epilogue: store, add to the
/// output (the residual), or the SwiGLU of a W1 | W3 pair.
/// </summary>
/// <remarks>
/// Float order: per part as <see cref="LinearW4A16Kernel"/> defines it over the part's quads; then part 0 + part 1 + …,
/// left to right. It depends on the matrix's part count, never on M or on a row's slot, so the result is batch
/// invariant; a matrix of one part gives the unsplit kernel's bits, and the fused epilogues round as
/// <see cref="Floats8.AddTo"/> and <see cref="Floats8.StoreSwiGlu"/> do.
/// </remarks>
internal static class SplitKReduceKernel
{
    /// <summary>Epilogues: y = sum; y += sum; gate = silu(sum of W1) · (sum of W3) over a two-matrix set.</summary>
    public const int Store = 0, Add = 1, SwiGlu = 2;

    /// <summary>
    /// Element (channel i.X, row i.Y) of partials [parts][rows][channels] (auto-grouped over (channels, rows); for
    /// <see cref="SwiGlu"/> over (N of W1, rows), W3's channels following W1's in the partials).
    /// </summary>
    public static void Run(Index2D i, ArrayView<float> partials, MatrixSet w, KSplit split, int epilogue, int channels, int rows)
    {
        int c = i.X, r = i.Y;
        long partStride = (long)rows * channels, at = (long)r * channels + c;
        int which = w.Which(c);
        float sum = PartSum(partials, at, partStride, split.Parts(which));
        if (epilogue == SwiGlu)
        {
            float up = PartSum(partials, at + w.N0, partStride, split.Parts1);
            w.Y0[(long)r * w.N0 + c] = ElementwiseKernels.SiluTimes(sum, up);
            return;
        }
        int n = c - w.First(which), width = w.Width(which);
        var y = w.Output(which);
        long o = (long)r * width + n;
        if (epilogue == Add) y[o] += sum;
        else y[o] = sum;
    }

    /// <summary>partials[at] + partials[at + stride] + … over <paramref name="parts"/> parts, left to right.</summary>
    private static float PartSum(ArrayView<float> partials, long at, long stride, int parts)
    {
        float sum = partials[at];
        for (int p = 1; p < parts; p++) sum += partials[at + p * stride];
        return sum;
    }
}
