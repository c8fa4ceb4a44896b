using ILGPU;
using ILGPU.Runtime;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Split-K for the W4A16 linear kernels: a matrix with too few output channels to keep the device's memory pipe full
/// (one warp per channel) has each row cut into parts, one warp per (channel, part); a second launch adds the parts
/// in ascending order and applies the epilogue (<see cref="SplitKReduceKernel"/>).
/// </summary>
/// <remarks>
/// <para>The rule (CUDA only; the CPU accelerator never splits unless told to): parts = min(target / N, load steps),
/// clamped to [1, <see cref="MaxSplitKParts"/>], where target = multiprocessors · <see cref="LatencyWarpsPerMultiprocessor"/>
/// and a load step is the <see cref="LinearW4A16Kernel.LoadsInFlight"/> · 32 quads a warp reads per loop turn. So a
/// matrix splits only where it has fewer than target / 2 channels and at least two steps per part: a split that only
/// moves a warp's single step to more warps keeps the same bytes in flight and buys nothing. On an H100 (132 SMs,
/// target 2,112) none of the TinyLlama-1.1B or Llama-3-8B matrices splits in the fused forward (QKV is one launch of
/// 2,560 or 6,144 channels); narrow, long matrices do (N ≤ 1,056 with K ≥ 8,192). The target is an estimate (Little's
/// law at ~0.6 µs and 3.35-4.8 TB/s: ~20 KB in flight per SM, 2 KB per warp), not a measurement: the device check times
/// each shape both ways (<see cref="SplitKPartsOverride"/>).</para>
/// <para>The part count depends on the matrix (N, K) and the device only, never on M, so results stay batch invariant,
/// and a fused launch (QKV, residual add, SwiGLU) and the plain ops it replaces still agree bit for bit.</para>
/// <para>The partials live in one backend buffer, [parts][rows][channels] for up to <see cref="SplitKRows"/> rows per
/// pair of launches. Both launches of a pair are queued under the backend's gate on its one stream, so the next pair
/// (any session's) runs after the reduction that read the buffer. Growing it synchronizes once (queued launches may
/// still read the old one); it grows only to the largest launch seen.</para>
/// </remarks>
public sealed partial class IlgpuBackend
{
    /// <summary>Largest part count of a split matrix.</summary>
    internal const int MaxSplitKParts = 16;
    /// <summary>Rows per pair of split launches (bounds the partials buffer; more rows loop).</summary>
    internal const int SplitKRows = 64;
    /// <summary>Resident warps per multiprocessor assumed to cover the weight stream's latency (estimate, see remarks).</summary>
    private const int LatencyWarpsPerMultiprocessor = 16;

    private MemoryBuffer1D<float, Stride1D.Dense>? _splitPartials;

    /// <summary>
    /// Tests and the device check only: the wanted part count of a W4A16 matrix as a function of (N, quads per row),
    /// in place of the rule (then clamped to the row's quads and to <see cref="MaxSplitKParts"/>; 1 never splits).
    /// Results depend on it (the float order changes).
    /// </summary>
    internal Func<int, int, int>? SplitKPartsOverride { get; set; }

    /// <summary>The part count of a W4A16 matrix of <paramref name="n"/> channels and <paramref name="quads"/> quads per row.</summary>
    internal int SplitKParts(int n, int quads)
    {
        if (n <= 0 || quads <= 0) return 1;
        int wanted = SplitKPartsOverride?.Invoke(n, quads)
                     ?? (IsCuda ? SplitKRule(n, quads, _accelerator.NumMultiprocessors, _accelerator.WarpSize) : 1);
        return Math.Clamp(wanted, 1, Math.Min(MaxSplitKParts, quads));
    }

    /// <summary>The rule of the remarks: min(target / N, load steps per row), clamped to [1, <see cref="MaxSplitKParts"/>].</summary>
    internal static int SplitKRule(int n, int quads, int multiprocessors, int warpSize)
    {
        int target = multiprocessors * LatencyWarpsPerMultiprocessor;
        int steps = quads / (LinearW4A16Kernel.LoadsInFlight * warpSize);
        return Math.Clamp(Math.Min(target / n, steps), 1, MaxSplitKParts);
    }

    /// <summary>The split plan of a launch over <paramref name="set"/> (rows of shape.PaddedK / 32 quads, as the kernels count them); null when no matrix splits.</summary>
    private KSplit? SplitPlan(in MatrixSet set, LinearShape shape)
    {
        int quads = shape.PaddedK / 32;
        int p0 = SplitKParts(set.N0, quads), p1 = SplitKParts(set.N1, quads), p2 = SplitKParts(set.N2, quads);
        if (p0 == 1 && p1 == 1 && p2 == 1) return null;
        int s0 = Span(p0), s1 = Span(p1), s2 = Span(p2);
        // Every part non-empty: parts = ceil(quads / span) after rounding the span up.
        return new KSplit
        {
            Span0 = s0, Span1 = s1, Span2 = s2,
            Parts0 = (quads + s0 - 1) / s0, Parts1 = (quads + s1 - 1) / s1, Parts2 = (quads + s2 - 1) / s2,
        };

        int Span(int parts) => (quads + parts - 1) / parts;
    }

    /// <summary>
    /// Both passes of a split W4A16 launch over <paramref name="set"/> with <paramref name="epilogue"/> (a
    /// <see cref="SplitKReduceKernel"/> constant), in chunks of <see cref="SplitKRows"/> rows. Call under the gate.
    /// </summary>
    private void LaunchSplit(DeviceBuffer x, MatrixSet set, KSplit split, int epilogue, LinearShape shape)
    {
        int channels = set.Channels, parts = split.MaxParts, chunkRows = Math.Min(SplitKRows, shape.Rows);
        var partials = SplitPartials((long)parts * chunkRows * channels);
        int warps = Math.Min(LinearW4A16Kernel.WarpsPerGroup, _accelerator.MaxNumThreadsPerGroup / _accelerator.WarpSize);
        var partialGrid = new KernelConfig(
            new Index2D(ResidentGroups((channels + warps - 1) / warps), parts), new Index2D(warps * _accelerator.WarpSize, 1));
        var xs = F(x);
        for (int m0 = 0; m0 < shape.Rows; m0 += SplitKRows)
        {
            int rows = Math.Min(SplitKRows, shape.Rows - m0);
            var chunk = set.FromRow(m0, rows);
            var xChunk = xs.SubView((long)m0 * shape.K, (long)rows * shape.K);
            Launched();
            _kernels.LinearW4A16Partial(partialGrid, xChunk, chunk, split, partials, shape with { Rows = rows, N = channels });
            Launched();
            _kernels.SplitKReduce(new Index2D(epilogue == SplitKReduceKernel.SwiGlu ? set.N0 : channels, rows),
                partials, chunk, split, epilogue, channels, rows);
        }
    }

    /// <summary>The first <paramref name="length"/> floats of the partials buffer, grown if needed.</summary>
    private ArrayView<float> SplitPartials(long length)
    {
        if (_splitPartials is null || _splitPartials.Length < length)
        {
            if (_splitPartials is not null)
            {
                _stream.Synchronize(); // queued launches may still read the old buffer
                _splitPartials.Dispose();
                _splitPartials = null;
            }
            _splitPartials = AllocateDevice<float>(length);
        }
        return _splitPartials.View.SubView(0, length);
    }
}
