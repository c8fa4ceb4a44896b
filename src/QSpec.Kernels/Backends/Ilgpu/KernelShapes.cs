namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>Shape of a linear call Y[M, N] = X[M, K] · Wᵀ, passed to the kernels by value.</summary>
internal readonly record struct LinearShape(int Rows, int N, int K, int PaddedK, int GroupSize, int GroupCount)
{
    /// <summary>log2 of the group size (32, 64 or 128; 0 for per-channel scales), so kernels shift instead of divide.</summary>
    public int GroupShift { get; } = GroupSize == 0 ? 0 : System.Numerics.BitOperations.Log2((uint)GroupSize);

    /// <summary>The scale group of <paramref name="column"/>; padding columns (q = 0) clamp to the last group.</summary>
    public int GroupOf(int column) => GroupSize == 0 ? 0 : Math.Min(column >> GroupShift, GroupCount - 1);
}

/// <summary>
/// Shape of an attention launch over the sequences of its <see cref="KvSlots{TCache}"/> (rows [FirstRow, FirstRow +
/// Rows) of q): <see cref="HeadsPerGroup"/> query heads per thread group (see <see cref="AttentionKernel.HeadsPerGroup"/>);
/// <see cref="Fresh"/> = 1 for the fused RoPE + StoreKv + attention (the call's rows are read unrotated from q and k),
/// 0 for attention from the cache alone.
/// </summary>
internal readonly record struct AttentionShape(
    int FirstRow, int Rows, int Heads, int KvHeads, int HeadSize, float Scale, int HeadsPerGroup, int Fresh);

/// <summary>One butterfly stage of the blockwise Walsh–Hadamard transform.</summary>
internal readonly record struct HadamardStage(int Dim, int BlockSize, int Span, float Norm, int IsLast);
