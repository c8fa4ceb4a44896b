using QSpec.Inference;

namespace QSpec.Speculative;

/// <summary>One step's draft choice: the draft mode and k (k = 0 is a plain W4A16 step).</summary>
public readonly record struct DraftChoice(ExecutionMode Mode, int K);

/// <summary>
/// Chooses the draft mode and length online from measured costs and measured acceptance. With per-token acceptance α_m
/// of draft mode m, a step that drafts k tokens emits on average E(k) = (1 − α^(k+1)) / (1 − α) tokens and costs
/// k·t_m + t_verify(k); the controller picks the (m, k) that maximizes E / cost. k = 0 is plain W4A16 decoding
/// (E = 1, cost t_verify(0)), so the choice is never expected to be slower than plain decoding.
/// </summary>
/// <remarks>
/// <para><b>Estimates.</b> Costs are running averages of measured forward times; a verify length not yet measured is
/// interpolated from the measured ones. α is estimated as successes / trials, where a step that accepts a of k drafts
/// is a successes and one more trial when a &lt; k (the first rejection): the maximum-likelihood estimate of a
/// geometric acceptance, unbiased by the truncation at k (accepted / drafted would read 0.81 for α = 0.9, k = 3).</para>
/// <para><b>Exploration.</b> Each candidate mode is tried once at k = 3 before the model is used. Afterwards, while k = 0
/// wins, one token is drafted every 16 steps; a mode that loses is still tried every 32 steps, so a change in
/// acceptance or cost (another process on the cores) is seen.</para>
/// </remarks>
public sealed class DraftLengthController
{
    private const double Smoothing = 0.2;      // weight of a new measurement in the running averages
    private const double Decay = 0.98;         // per step, of the acceptance counts: a window of ~50 steps
    private const int ExploreEvery = 16;       // at k = 0, draft one token every this many steps to keep α current
    private const int ExploreModeEvery = 32;   // a mode that is not chosen is tried every this many steps
    private const double PriorAlpha = 0.5, PriorWeight = 1;
    private readonly ExecutionMode[] _modes;
    private readonly int? _fixedLength;
    private readonly double[] _verify;         // seconds per verify pass of k + 1 rows; NaN when unmeasured
    private readonly double[] _draft;          // per mode: seconds per draft forward; NaN when unmeasured
    private readonly double[] _successes, _trials; // per mode: exponentially decayed counts
    private int _steps, _stepsAtZero;

    /// <summary>Creates a controller for k in 0..<paramref name="maxDraftLength"/> and the W4A4 draft (the paper's).</summary>
    public DraftLengthController(int maxDraftLength) : this(maxDraftLength, [ExecutionMode.W4A4]) { }

    /// <summary>
    /// Creates a controller choosing among <paramref name="draftModes"/> (W4A4 and/or W4A8, the first preferred on ties)
    /// and k in 0..<paramref name="maxDraftLength"/>, or only k = <paramref name="fixedLength"/> when that is given.
    /// </summary>
    public DraftLengthController(int maxDraftLength, IReadOnlyList<ExecutionMode> draftModes, int? fixedLength = null)
    {
        if (maxDraftLength is < 1 or > SpeculativeOptions.MaxDraftLength)
            throw new ArgumentOutOfRangeException(nameof(maxDraftLength), maxDraftLength, $"Must be in 1..{SpeculativeOptions.MaxDraftLength}.");
        ArgumentNullException.ThrowIfNull(draftModes);
        if (draftModes.Count == 0 || draftModes.Any(m => m is not (ExecutionMode.W4A4 or ExecutionMode.W4A8)) || draftModes.Distinct().Count() != draftModes.Count)
            throw new ArgumentException($"Draft modes must be distinct W4A4 / W4A8, got [{string.Join(", ", draftModes)}].", nameof(draftModes));
        if (fixedLength is int f && (f < 0 || f > maxDraftLength))
            throw new ArgumentOutOfRangeException(nameof(fixedLength), f, $"Must be in 0..{maxDraftLength}.");
        MaxDraftLength = maxDraftLength;
        _modes = draftModes.ToArray();
        _fixedLength = fixedLength;
        _verify = Enumerable.Repeat(double.NaN, maxDraftLength + 1).ToArray();
        _draft = Enumerable.Repeat(double.NaN, _modes.Length).ToArray();
        _successes = new double[_modes.Length];
        _trials = new double[_modes.Length];
    }

    /// <summary>Largest k considered.</summary>
    public int MaxDraftLength { get; }

    /// <summary>The candidate draft modes.</summary>
    public IReadOnlyList<ExecutionMode> DraftModes => _modes;

    /// <summary>Running acceptance estimate of the first draft mode.</summary>
    public double Alpha => AlphaOf(_modes[0]);

    /// <summary>Running per-token acceptance estimate of <paramref name="mode"/> (decayed counts with a weak prior of 0.5).</summary>
    public double AlphaOf(ExecutionMode mode)
    {
        int i = IndexOf(mode);
        return (_successes[i] + PriorAlpha * PriorWeight) / (_trials[i] + PriorWeight);
    }

    /// <summary>c of the first draft mode: its forward time relative to a one-token W4A16 forward (NaN until both are measured).</summary>
    public double DraftCost => DraftCostOf(_modes[0]);

    /// <summary>c of <paramref name="mode"/> (NaN until measured).</summary>
    public double DraftCostOf(ExecutionMode mode) => _draft[IndexOf(mode)] / _verify[0];

    /// <summary>v(k): (k+1)-row verify time relative to a one-token W4A16 forward.</summary>
    public double VerifyCost(int k) => VerifyTime(k) / VerifyTime(0);

    /// <summary>
    /// Records a step: <paramref name="choice"/> drafted (per sequence), <paramref name="successes"/> drafts accepted and
    /// <paramref name="trials"/> acceptance trials summed over the sequences, and the measured forward times.
    /// </summary>
    public void Record(DraftChoice choice, int successes, int trials, double draftSecondsPerForward, double verifySeconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(successes);
        ArgumentOutOfRangeException.ThrowIfLessThan(trials, successes);
        _steps++;
        if (choice.K > 0)
        {
            int i = IndexOf(choice.Mode);
            _draft[i] = Blend(_draft[i], draftSecondsPerForward);
            _successes[i] = _successes[i] * Decay + successes;
            _trials[i] = _trials[i] * Decay + trials;
        }
        if (choice.K <= MaxDraftLength) _verify[choice.K] = Blend(_verify[choice.K], verifySeconds);
    }

    /// <summary>The draft mode and k to use for the next step.</summary>
    public DraftChoice Next()
    {
        int bootstrapK = _fixedLength ?? Math.Min(3, MaxDraftLength);
        // Bootstrap: measure plain decoding (k = 0) and each mode once before modelling.
        if (double.IsNaN(_verify[0]) && _fixedLength is null or 0) return new(_modes[0], 0);
        for (int i = 0; i < _modes.Length; i++)
            if (double.IsNaN(_draft[i]) && bootstrapK > 0) return new(_modes[i], bootstrapK);
        var best = new DraftChoice(_modes[0], 0);
        double bestRate = _fixedLength is null or 0 ? 1.0 / _verify[0] : 0;
        var bestK = new int[_modes.Length];
        for (int i = 0; i < _modes.Length; i++)
        {
            double alpha = Math.Min(AlphaOf(_modes[i]), 0.999), modeRate = 0;
            for (int k = _fixedLength ?? 1; k <= (_fixedLength ?? MaxDraftLength); k++)
            {
                if (k == 0) continue;
                double rate = (1 - Math.Pow(alpha, k + 1)) / (1 - alpha) / (k * _draft[i] + VerifyTime(k));
                if (rate > modeRate) { modeRate = rate; bestK[i] = k; }
                if (rate > bestRate) { bestRate = rate; best = new(_modes[i], k); }
            }
        }
        if (_modes.Length > 1 && bootstrapK > 0 && _steps % ExploreModeEvery == ExploreModeEvery - 1)
        {
            // Try a mode that is not the best at its own best k (or 1).
            int other = (Array.IndexOf(_modes, best.Mode) + 1 + _steps / ExploreModeEvery % (_modes.Length - 1)) % _modes.Length;
            return new(_modes[other], _fixedLength ?? Math.Max(1, bestK[other]));
        }
        if (best.K == 0 && _fixedLength is null && ++_stepsAtZero % ExploreEvery == 0)
        {
            int m = 0;
            for (int i = 1; i < _modes.Length; i++) if (AlphaOf(_modes[i]) > AlphaOf(_modes[m])) m = i;
            return new(_modes[m], 1);
        }
        return best;
    }

    private int IndexOf(ExecutionMode mode)
    {
        int i = Array.IndexOf(_modes, mode);
        return i >= 0 ? i : throw new ArgumentOutOfRangeException(nameof(mode), mode, $"Not a candidate draft mode ({string.Join(", ", _modes)}).");
    }

    private double VerifyTime(int k)
    {
        if (!double.IsNaN(_verify[k])) return _verify[k];
        // Linear interpolation/extrapolation between the nearest measured lengths (t(0) is measured first).
        int lo = k, hi = k;
        while (lo > 0 && double.IsNaN(_verify[lo])) lo--;
        while (hi < _verify.Length && double.IsNaN(_verify[hi])) hi++;
        if (double.IsNaN(_verify[lo])) return hi < _verify.Length ? _verify[hi] : double.NaN;
        if (hi < _verify.Length) return _verify[lo] + (_verify[hi] - _verify[lo]) * (k - lo) / (hi - lo);
        int prev = lo - 1;
        while (prev >= 0 && double.IsNaN(_verify[prev])) prev--;
        double slope = prev >= 0 ? Math.Max(0, (_verify[lo] - _verify[prev]) / (lo - prev)) : 0.05 * _verify[0];
        return _verify[lo] + slope * (k - lo);
    }

    private static double Blend(double old, double x) => double.IsNaN(old) ? x : old + Smoothing * (x - old);
}
