using System.Numerics;
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

/// <summary>Maps a column to its scale group of an <see cref="Int4Matrix"/> row; padding columns map to the last group.</summary>
internal readonly struct GroupIndex
{
    private readonly int _shift, _last;
    private readonly bool _perChannel;

    public GroupIndex(Int4Matrix w)
    {
        _perChannel = w.GroupSize == 0;
        _shift = _perChannel ? 0 : BitOperations.Log2((uint)w.GroupSize);
        _last = w.GroupCount - 1;
    }

    /// <summary>The group of column <paramref name="column"/>.</summary>
    public int Of(int column) => _perChannel ? 0 : Math.Min(column >> _shift, _last);
}

/// <summary>Fork/join over output-channel ranges. Work is never split over K, so results do not depend on the thread count.</summary>
internal static class CpuParallel
{
    /// <summary>
    /// Runs <paramref name="body"/>(start, end) over [0, count) in up to <paramref name="threads"/> contiguous ranges whose
    /// boundaries are multiples of <paramref name="align"/>; runs inline when one range suffices.
    /// </summary>
    public static void For(int count, int threads, int align, Action<int, int> body)
    {
        int units = (count + align - 1) / align;
        threads = Math.Max(1, Math.Min(threads, units));
        if (threads == 1) { body(0, count); return; }
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            int start = (int)((long)units * t / threads) * align;
            int end = Math.Min(count, (int)((long)units * (t + 1) / threads) * align);
            if (start < end) body(start, end);
        });
    }
}
