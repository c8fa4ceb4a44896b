namespace QSpec.Speculative;

/// <summary>
/// The last few timings of one cost (a draft forward of one mode, or the rest of a step at one k), estimated by their
/// lower quartile (the ⌊(n − 1)/4⌋-th smallest of the n kept). On a shared machine most noise only adds time (another
/// process on the cores, a preempted thread, a GC, a JIT compile of a new tile shape on first use), so a low sample is
/// the cost without the disturbance: one stall, however long, is outvoted by the next normal samples instead of
/// lingering in a running average (which, for a choice no longer picked because of it, it would do for good), and only
/// a window of three quarters stalled misleads it. The quartile, not the minimum, because some noise also takes time
/// away: the 2-core Zen 5 VM (4 Dec 2026) ran whole stretches in a faster state, and a cost sampled rarely (a draft
/// that is only explored) kept one such sample as its minimum for 16 samples, reading c = 0.76 where the steps took
/// c ≈ 0.9. Every cost being read the same way, the disturbance that hits all choices alike cancels in their
/// comparison; a lasting change of the machine replaces the estimate within a few samples.
/// </summary>
internal sealed class CostWindow
{
    /// <summary>Samples kept.</summary>
    public const int Capacity = 16;

    private readonly double[] _samples = new double[Capacity];
    private int _count, _next;
    private double _estimate = double.NaN; // recomputed on Add: the controller reads it many times per step

    /// <summary>Samples recorded so far (at most <see cref="Capacity"/> are kept).</summary>
    public int Count => _count;

    /// <summary>Adds one timing in seconds (non-finite or negative timings are ignored); true when the estimate changed.</summary>
    public bool Add(double seconds)
    {
        if (!double.IsFinite(seconds) || seconds < 0) return false;
        _samples[_next] = seconds;
        _next = (_next + 1) % Capacity;
        if (_count < Capacity) _count++;
        Span<double> sorted = stackalloc double[Capacity];
        _samples.AsSpan(0, _count).CopyTo(sorted);
        sorted = sorted[.._count];
        sorted.Sort();
        double est = sorted[(_count - 1) / 4];
        bool changed = est != _estimate;
        _estimate = est;
        return changed;
    }

    /// <summary>Multiplies every kept sample by <paramref name="factor"/> (a change of unit).</summary>
    public void Scale(double factor)
    {
        for (int i = 0; i < _count; i++) _samples[i] *= factor;
        _estimate *= factor;
    }

    /// <summary>The lower quartile of the kept samples (their minimum while fewer than five); NaN before any.</summary>
    public double Estimate => _estimate;
}
