using System.Numerics;
using System.Runtime.CompilerServices;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// A compile-time row count for the linear kernels: each kernel is a generic method over <c>TR</c>, so the JIT emits one
/// copy per tile height with its accumulators in registers and the unused rows' code removed.
/// </summary>
internal interface IRowTile
{
    /// <summary>Rows in the tile.</summary>
    static abstract int Count { get; }
}

internal struct OneRow : IRowTile { public static int Count => 1; }
internal struct TwoRows : IRowTile { public static int Count => 2; }
internal struct ThreeRows : IRowTile { public static int Count => 3; }
internal struct FourRows : IRowTile { public static int Count => 4; }
internal struct FiveRows : IRowTile { public static int Count => 5; }
internal struct SixRows : IRowTile { public static int Count => 6; }
internal struct SevenRows : IRowTile { public static int Count => 7; }
internal struct EightRows : IRowTile { public static int Count => 8; }

/// <summary>
/// Maps a 32-column half block (chunk) to its scale group of an <see cref="Int4Matrix"/> row. Groups are whole
/// chunks (G ∈ {32, 64, 128}) or the whole row, so the group is chunk >> log2(G / 32), clamped for padding chunks.
/// </summary>
internal readonly struct GroupIndex
{
    private readonly int _shift, _last;

    public GroupIndex(Int4Matrix w)
    {
        _shift = w.GroupSize == 0 ? 31 : BitOperations.Log2((uint)w.GroupSize / 32);
        _last = w.GroupCount - 1;
    }

    /// <summary>The last group index.</summary>
    public int Last => _last;

    /// <summary>
    /// For groups of whole 64-column blocks, the shift from a block to its group (G = 64: 0, G = 128: 1, per channel: 31;
    /// no clamp is needed because every block holds a real column); −1 for G = 32, where a block spans two groups.
    /// </summary>
    public int BlockShift => _shift - 1;

    /// <summary>The group of columns [32·<paramref name="half"/>, 32·<paramref name="half"/> + 32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int OfHalf(int half) => Math.Min(half >> _shift, _last);
}
