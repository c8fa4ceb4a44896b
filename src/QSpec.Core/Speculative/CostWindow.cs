namespace QSpec.Speculative;

/// <summary>
/// The last few timings of one cost (a draft forward of one mode, or the rest of a step at one k), estimated by their
/// minimum. On a shared machine noise only adds time (another process on the cores, a preempted thread, a GC, a JIT
/// compile of a new tile shape on first use), so the fastest recent sample is the cost without the disturbance: one
/// stall, however long, is outvoted by the next normal sample instead of lingering in a running average (which, for a
/// choice no longer picked because of it, it would do for good), and only a window of all-stalled samples (0.3^16 at a
/// 30 % stall rate) misleads it. Every cost being read the same way, the disturbance that hits all choices alike cancels
/// in their comparison; a lasting change of the machine replaces the estimate within <see cref="Capacity"/> samples.
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
        double min = double.PositiveInfinity;
        for (int i = 0; i < _count; i++) min = Math.Min(min, _samples[i]);
        bool changed = min != _estimate;
        _estimate = min;
        return changed;
    }

    /// <summary>Multiplies every kept sample by <paramref name="factor"/> (a change of unit).</summary>
    public void Scale(double factor)
    {
        for (int i = 0; i < _count; i++) _samples[i] *= factor;
        _estimate *= factor;
    }

    /// <summary>The minimum of the kept samples; NaN before any.</summary>
    public double Estimate => _estimate;
}
