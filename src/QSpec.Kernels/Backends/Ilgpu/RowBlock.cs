using ILGPU;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Eight float registers: one value per row of a block of up to eight rows (the linear kernels' per-row results), or
/// per query head of an attention group. A value type that device code only copies (no <c>ref this</c>).
/// </summary>
internal struct Floats8
{
    public const int Count = 8;
    public float F0, F1, F2, F3, F4, F5, F6, F7;

    public readonly float Get(int r) => r switch { 0 => F0, 1 => F1, 2 => F2, 3 => F3, 4 => F4, 5 => F5, 6 => F6, _ => F7 };

    /// <summary>A copy with element <paramref name="r"/> set to <paramref name="value"/>.</summary>
    public static Floats8 With(Floats8 f, int r, float value)
    {
        switch (r)
        {
            case 0: f.F0 = value; break;
            case 1: f.F1 = value; break;
            case 2: f.F2 = value; break;
            case 3: f.F3 = value; break;
            case 4: f.F4 = value; break;
            case 5: f.F5 = value; break;
            case 6: f.F6 = value; break;
            default: f.F7 = value; break;
        }
        return f;
    }

    /// <summary>Every element <paramref name="value"/>.</summary>
    public static Floats8 Fill(float value) => new()
    {
        F0 = value, F1 = value, F2 = value, F3 = value, F4 = value, F5 = value, F6 = value, F7 = value,
    };

    /// <summary>The warp sums of the first <paramref name="rows"/> elements (a warp-uniform call: every lane shuffles).</summary>
    public static Floats8 WarpSums(Floats8 partial, int rows)
    {
        var t = default(Floats8);
        t.F0 = WarpSum(partial.F0);
        if (rows > 1) t.F1 = WarpSum(partial.F1);
        if (rows > 2) t.F2 = WarpSum(partial.F2);
        if (rows > 3) t.F3 = WarpSum(partial.F3);
        if (rows > 4) t.F4 = WarpSum(partial.F4);
        if (rows > 5) t.F5 = WarpSum(partial.F5);
        if (rows > 6) t.F6 = WarpSum(partial.F6);
        if (rows > 7) t.F7 = WarpSum(partial.F7);
        return t;
    }

    /// <summary>y[index + r · stride] = element r for r &lt; rows (the plain epilogue).</summary>
    public readonly void Store(ArrayView<float> y, long index, int stride, int rows)
    {
        for (int r = 0; r < rows; r++) y[index + (long)r * stride] = Get(r);
    }

    /// <summary>y[index + r · stride] += element r for r &lt; rows: the residual-add epilogue, the same single rounding as
    /// <see cref="ElementwiseKernels.Add"/>.</summary>
    public readonly void AddTo(ArrayView<float> y, long index, int stride, int rows)
    {
        for (int r = 0; r < rows; r++) y[index + (long)r * stride] += Get(r);
    }

    /// <summary>gate[index + r · stride] = silu(element r) · up element r: the SwiGLU epilogue (<see cref="ElementwiseKernels.SiluTimes"/>).</summary>
    public readonly void StoreSwiGlu(Floats8 up, ArrayView<float> gate, long index, int stride, int rows)
    {
        for (int r = 0; r < rows; r++) gate[index + (long)r * stride] = ElementwiseKernels.SiluTimes(Get(r), up.Get(r));
    }
}

/// <summary>
/// Up to three weight matrices over the same input and their outputs, for one launch of LinearMany (Q, K and V) or,
/// with one matrix, of LinearAdd. Channel c of the launch (0 ≤ c &lt; N0 + N1 + N2) is channel c of matrix 0, c − N0 of
/// matrix 1, c − N0 − N1 of matrix 2; the matrices share K, the group size and so the packed row length. Unused slots
/// repeat matrix 0 with N = 0.
/// </summary>
internal struct MatrixSet
{
    public ArrayView<uint> P0, P1, P2;
    public ArrayView<float> S0, S1, S2;
    public ArrayView<float> Y0, Y1, Y2;
    public int N0, N1, N2;

    /// <summary>Total channels.</summary>
    public readonly int Channels => N0 + N1 + N2;

    /// <summary>The matrix of launch channel <paramref name="c"/>.</summary>
    public readonly int Which(int c) => c < N0 ? 0 : c < N0 + N1 ? 1 : 2;

    /// <summary>The first launch channel of matrix <paramref name="which"/>.</summary>
    public readonly int First(int which) => which == 0 ? 0 : which == 1 ? N0 : N0 + N1;

    public readonly int Width(int which) => which == 0 ? N0 : which == 1 ? N1 : N2;
    public readonly ArrayView<uint> Packed(int which) => which == 0 ? P0 : which == 1 ? P1 : P2;
    public readonly ArrayView<float> Scales(int which) => which == 0 ? S0 : which == 1 ? S1 : S2;
    public readonly ArrayView<float> Output(int which) => which == 0 ? Y0 : which == 1 ? Y1 : Y2;

    /// <summary>This set with each output starting at row <paramref name="m0"/>, for a chunk of <paramref name="rows"/> rows.</summary>
    public readonly MatrixSet FromRow(int m0, int rows)
    {
        var s = this;
        s.Y0 = Y0.SubView((long)m0 * N0, (long)rows * N0);
        s.Y1 = Y1.SubView((long)m0 * N1, (long)rows * N1);
        s.Y2 = Y2.SubView((long)m0 * N2, (long)rows * N2);
        return s;
    }
}
