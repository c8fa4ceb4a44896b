using QSpec.Inference;

namespace QSpec.Speculative;

/// <summary>One step's draft choice: the draft mode and k (k = 0 is a plain W4A16 step).</summary>
public readonly record struct DraftChoice(ExecutionMode Mode, int K);

/// <summary>
/// Chooses the draft mode and length online from measured costs and measured acceptance. With per-token acceptance α_m
/// of draft mode m, a step that drafts k tokens emits on average E(k) = (1 − α^(k+1)) / (1 − α) tokens and costs
/// k·t_m + t_rest(k); the controller picks the (m, k) that maximizes E / cost. k = 0 is a plain W4A16 step (E = 1,
/// cost t_rest(0)), and drafting must beat it by a margin, so a choice is never expected to be slower than plain decoding.
/// </summary>
/// <remarks>
/// <para><b>Costs</b> are whole-step timings: t_m is a draft forward of mode m (its argmax included) and t_rest(k) is
/// everything else in a step that drafted k tokens (the verify forward, acceptance, cache truncation, bookkeeping), so
/// the model sees the same per-step overheads the wall clock does (on a small model they rival the forwards). Each cost
/// is the lower quartile of its last few samples (<see cref="CostWindow"/>): robust to stalls on a shared machine, to
/// the JIT compiling a tile shape on its first call, and to the odd sample from a faster moment of the machine. Drafting costs are kept in units of the plain-step estimate of
/// their time (c and v), so load that comes and goes moves them together with the reference they are compared with.
/// A rest time not yet measured is interpolated from the measured ones.</para>
/// <para><b>Acceptance.</b> α is estimated as successes / trials, where a step that accepts a of k drafts is a successes
/// and one more trial when a &lt; k (the first rejection): the maximum-likelihood estimate of a geometric acceptance,
/// unbiased by the truncation at k (accepted / drafted would read 0.81 for α = 0.9, k = 3).</para>
/// <para><b>Hysteresis.</b> From plain steps, drafting is taken only when its estimated speedup is above
/// <see cref="EnterMargin"/>; once drafting, it stays while the estimate is above <see cref="StayMargin"/>. A noisy
/// estimate near 1 therefore does not flip the choice back and forth, and an estimate near or below 1 always falls back
/// to plain W4A16 steps. The margins are wide because the estimates read optimistic where drafting barely misses: on the
/// 2-core Zen 5 VM (4 Dec 2026, TinyLlama shape, B = 1, synthetic acceptance 0.99) the fastest recent draft forward read
/// c = 0.76 where fixed k = 1 decoded at 0.97x plain (c + v[1] ≈ 2.06): a rarely sampled cost's window spans more
/// of the machine's fast moments, so its minimum read low. With an entry margin of 1.03, a stay margin of 1 and
/// minimum estimates the controller drafted (0.25-0.49 accepted per step) and ran at 0.91-0.96x plain in three 9-round
/// bench runs; with these margins, 0.97 and 1.02x (0.02-0.03 accepted per step: plain steps). The estimates are now
/// lower quartiles as well (<see cref="CostWindow"/>).</para>
/// <para><b>Exploration</b> keeps the estimates of choices not taken current (a neighbouring k, the other draft mode,
/// one draft token while plain steps win; while drafting, a plain step every 64 steps keeps the reference fresh). It is
/// paid from a budget: each step earns <see cref="ExploreBudget"/> of its time, and a candidate runs when the earned credit covers its predicted loss against the current choice (the time it
/// takes beyond what the current choice would need for the same expected tokens). Exploring therefore costs at most
/// about that fraction of the time: rarely where drafting is hopeless (a large batch on a small model), often where
/// the candidates are close.</para>
/// </remarks>
public sealed class DraftLengthController
{
    /// <summary>Drafting must be estimated this much faster than plain steps to be taken from plain steps.</summary>
    public const double EnterMargin = 1.10;
    /// <summary>Drafting, once taken, stays while estimated at least this much faster than plain steps.</summary>
    public const double StayMargin = 1.03;
    /// <summary>Fraction of the time that exploring choices estimated to be worse may cost.</summary>
    public const double ExploreBudget = 0.005;
    private const double Decay = 0.98;         // per step, of the acceptance counts: a window of ~50 steps
    private const double MaxLossSteps = 4;     // a candidate's scheduled loss is capped at this many current steps,
                                               // so even a hopeless-looking one is re-measured every ~400 steps
    private const int PlainSamplesFirst = 8;   // plain steps measured before modelling: the unit of every other cost
    private const int RefreshPlainEvery = 64;  // while drafting, one plain step every this many steps keeps the reference fresh
    private const double PriorAlpha = 0.5, PriorWeight = 1;
    private readonly ExecutionMode[] _modes;
    private readonly int? _fixedLength;
    private readonly CostWindow[] _rest;       // k = 0: seconds of a plain step; k ≥ 1: the rest of a step, in plain steps
    private readonly CostWindow[] _draft;      // per mode: a draft forward, in plain steps
    private readonly double[] _successes, _trials; // per mode: exponentially decayed counts
    private readonly int[] _bootstrapLengths;  // the k each mode drafts once at the start, in turn (by its draft window's sample count)
    private DraftChoice _current;              // the latest choice made on the estimates (not an exploration)
    private double _credit;                    // seconds of exploration earned and not yet spent
    private int _explored;                     // round robin over the exploration candidates
    private int _sincePlain;                   // steps since the latest plain step
    private readonly double[] _restNow;        // the rest time per k in seconds, interpolated where unmeasured (updated by Record)
    private readonly double[] _draftNow;       // per mode: seconds per draft forward (updated by Record)
    private readonly int[] _bestK;             // per mode, its best k on the estimates (Model)
    private DraftChoice _bestDraft;            // the best drafting choice on the estimates (Model)
    private double _bestDraftRate;             // its expected tokens per second
    private bool _stale = true;                // an estimate changed since Model ran
    private double? _bootstrapUnit;            // the plain-step unit the bootstrap's drafting steps were recorded in
    private DraftChoice? _candidateFor;        // the best choice the exploration candidate below was picked for
    private DraftChoice? _candidate;           // the next exploration candidate and its scheduled loss in seconds
    private double _candidateLoss;

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
        _rest = Enumerable.Range(0, maxDraftLength + 1).Select(_ => new CostWindow()).ToArray();
        _draft = _modes.Select(_ => new CostWindow()).ToArray();
        // k = 1 and 3: the rest of a step is measured at both ends of the usual range. Interpolating k = 1 from k = 0 and
        // k = 3 alone overstates it wherever a few more rows are nearly free (a compute-bound kernel that dequantizes once
        // for all rows: measured v = 1.07, 1.94, 2.27 on an AVX2-only host), and an overstated cost is never re-measured
        // but by the slow exploration; an understated one is tried and corrected at once.
        _bootstrapLengths = fixedLength is int fk ? (fk > 0 ? [fk] : []) : maxDraftLength == 1 ? [1] : [1, Math.Min(3, maxDraftLength)];
        _successes = new double[_modes.Length];
        _trials = new double[_modes.Length];
        _current = new DraftChoice(_modes[0], fixedLength ?? 0);
        _restNow = Enumerable.Repeat(double.NaN, maxDraftLength + 1).ToArray();
        _draftNow = Enumerable.Repeat(double.NaN, _modes.Length).ToArray();
        _bestK = new int[_modes.Length];
    }

    /// <summary>Largest k considered.</summary>
    public int MaxDraftLength { get; }

    /// <summary>The candidate draft modes.</summary>
    public IReadOnlyList<ExecutionMode> DraftModes => _modes;

    /// <summary>Running acceptance estimate of the first draft mode.</summary>
    public double Alpha => AlphaOf(_modes[0]);

    /// <summary>Running per-token acceptance estimate of <paramref name="mode"/> (decayed counts with a weak prior of 0.5).</summary>
    public double AlphaOf(ExecutionMode mode) => AlphaAt(IndexOf(mode));

    private double AlphaAt(int i) => (_successes[i] + PriorAlpha * PriorWeight) / (_trials[i] + PriorWeight);

    /// <summary>c of the first draft mode: its forward time relative to a plain W4A16 step (NaN until both are measured).</summary>
    public double DraftCost => DraftCostOf(_modes[0]);

    /// <summary>c of <paramref name="mode"/> (NaN until measured).</summary>
    public double DraftCostOf(ExecutionMode mode) => _draftNow[IndexOf(mode)] / RestTime(0);

    /// <summary>v(k): the rest of a step that drafted k tokens (its verify pass over k + 1 rows and the bookkeeping) relative to a plain step.</summary>
    public double VerifyCost(int k) => RestTime(k) / RestTime(0);

    /// <summary>Estimated speedup of the current choice over plain W4A16 steps (1 while plain; NaN until measured).</summary>
    public double EstimatedSpeedup => _current.K == 0 ? 1 : Expected(_current) / StepTime(_current) * RestTime(0);

    /// <summary>
    /// Records a step: <paramref name="choice"/> drafted (per sequence), <paramref name="successes"/> drafts accepted and
    /// <paramref name="trials"/> acceptance trials summed over the sequences, the measured seconds per draft forward,
    /// and <paramref name="verifySeconds"/>, the step's seconds beyond its draft forwards (the verify forward and everything
    /// around it: acceptance, truncation, bookkeeping).
    /// </summary>
    public void Record(DraftChoice choice, int successes, int trials, double draftSecondsPerForward, double verifySeconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(successes);
        ArgumentOutOfRangeException.ThrowIfLessThan(trials, successes);
        // Drafting steps are kept in units of the current plain-step estimate: on a small model 16 plain steps span a
        // millisecond, so in seconds a burst of load would leave the plain estimate loaded and the rarely sampled
        // drafting ones quiet, and drafting would look cheap exactly when nothing has changed but the load.
        double unit = Reference;
        bool changed = false;
        if (choice.K > 0 && _rest[0].Count < PlainSamplesFirst) _bootstrapUnit = unit;
        if (choice.K > 0)
        {
            int i = IndexOf(choice.Mode);
            changed |= _draft[i].Add(draftSecondsPerForward / unit);
            _successes[i] = _successes[i] * Decay + successes;
            _trials[i] = _trials[i] * Decay + trials;
            _stale = true;
        }
        if (choice.K <= MaxDraftLength) changed |= _rest[choice.K].Add(choice.K == 0 ? verifySeconds : verifySeconds / unit);
        if (choice.K == 0 && _rest[0].Count == PlainSamplesFirst && _bootstrapUnit is double first)
        {
            // The bootstrap's drafting steps were recorded in units of the first plain step alone: restate them in the
            // unit of all PlainSamplesFirst (only they are in the drafting windows yet).
            _bootstrapUnit = null;
            double factor = first / Reference;
            foreach (var w in _draft) w.Scale(factor);
            for (int k = 1; k < _rest.Length; k++) _rest[k].Scale(factor);
            changed = true;
        }
        if (changed)
        {
            unit = Reference;
            for (int k = 0; k < _restNow.Length; k++) _restNow[k] = Interpolated(k) * unit;
            for (int i = 0; i < _modes.Length; i++) _draftNow[i] = _draft[i].Estimate * unit;
            _stale = true;
        }
        _sincePlain = choice.K == 0 ? 0 : _sincePlain + 1;
        // Credit is earned on the step's estimated (undisturbed) time, not its measured one: a loaded machine's stalls
        // must not buy more exploration. Capped above the largest scheduled loss, so a long quiet stretch does not buy
        // a burst of explorations.
        double step = StepTime(choice);
        if (double.IsFinite(step) && step > 0) _credit = Math.Min(_credit + ExploreBudget * step, 2 * MaxLossSteps * step);
    }

    /// <summary>The draft mode and k to use for the next step.</summary>
    public DraftChoice Next()
    {
        // Bootstrap: one plain step, each mode at each bootstrap length (so even a short first generation drafts), then
        // plain steps up to PlainSamplesFirst (the unit of every other cost: one sample may be a stall) before modelling.
        bool plainAllowed = _fixedLength is null or 0;
        if (_rest[0].Count == 0 && plainAllowed) return new(_modes[0], 0);
        for (int i = 0; i < _modes.Length; i++)
            if (_draft[i].Count < _bootstrapLengths.Length) return new(_modes[i], _bootstrapLengths[_draft[i].Count]); // one sample per drafting step
        if (_rest[0].Count < PlainSamplesFirst && plainAllowed) return new(_modes[0], 0);

        // The best (mode, k) on the estimates, with hysteresis against plain steps. Recomputed only when an estimate
        // changed (a draft step, a new fastest time): on a small model a step takes ~50 µs, and in the steady state of
        // plain steps nothing changes.
        bool stale = _stale;
        if (stale) Model();
        var best = new DraftChoice(_modes[0], _fixedLength ?? 0);
        double bestRate = _fixedLength is null or 0 ? 1.0 / _restNow[0] : 0;
        var bestK = _bestK;
        var (bestDraft, bestDraftRate) = (_bestDraft, _bestDraftRate);
        double margin = _fixedLength is not null ? 1 : _current.K == 0 ? EnterMargin : StayMargin;
        if (bestDraftRate > margin * bestRate) { best = bestDraft; bestRate = bestDraftRate; }
        _current = best;
        // Every choice is judged against plain steps, so their estimate must not go stale while drafting (a burst of
        // stalls that made them look dear would otherwise keep drafting on for good): a plain step now and then, at
        // most 1/64 of the steps, costing (1 − 1/speedup)/64 of the time.
        if (best.K > 0 && _fixedLength is null && _sincePlain >= RefreshPlainEvery) return best with { K = 0 };

        // Exploration, paid from the earned credit (the candidate and its loss are kept until an estimate changes).
        if (stale || _candidateFor != best)
        {
            _candidateFor = best;
            _candidate = ExplorationCandidate(best, bestK);
            _candidateLoss = double.PositiveInfinity;
            if (_candidate is DraftChoice c)
            {
                double cost = StepTime(c), bestCost = StepTime(best);
                // An estimate from fewer than three timings may be one stall: re-measuring it is scheduled at one step's loss at most.
                int samples = c.K == 0 ? _rest[0].Count : Math.Min(_draft[IndexOf(c.Mode)].Count, _rest[c.K].Count);
                double loss = Math.Min(cost - Expected(c) / bestRate, (samples < 3 ? 1 : MaxLossSteps) * bestCost);
                loss = Math.Max(loss, 0.1 * bestCost); // even a candidate estimated as good as the best is not run back to back
                if (double.IsFinite(loss)) _candidateLoss = loss;
            }
        }
        if (_candidate is DraftChoice explore && _credit >= _candidateLoss)
        {
            _credit -= _candidateLoss;
            _explored++;
            _candidateFor = null; // the next candidate in the round robin
            return explore;
        }
        return best;
    }

    /// <summary>The best drafting choice on the estimates (<see cref="_bestDraft"/>) and each mode's best k; O(modes · k), no allocation.</summary>
    private void Model()
    {
        _stale = false;
        _bestDraft = new DraftChoice(_modes[0], Math.Max(1, _fixedLength ?? 1));
        _bestDraftRate = 0;
        int kLo = Math.Max(1, _fixedLength ?? 1), kHi = _fixedLength ?? MaxDraftLength;
        for (int i = 0; i < _modes.Length; i++)
        {
            double modeRate = 0, alpha = Math.Min(AlphaAt(i), 0.999), draft = _draftNow[i];
            _bestK[i] = 0;
            double power = alpha; // α^(k+1), kept incrementally
            for (int k = 1; k <= kHi; k++)
            {
                power *= alpha;
                if (k < kLo) continue;
                double rate = (1 - power) / (1 - alpha) / (k * draft + _restNow[k]);
                if (rate > modeRate) { modeRate = rate; _bestK[i] = k; }
                if (rate > _bestDraftRate) { _bestDraftRate = rate; _bestDraft = new(_modes[i], k); }
            }
        }
    }

    /// <summary>
    /// The next choice to re-measure, round robin: while plain steps win, one draft token of each mode; while drafting,
    /// the neighbouring k of the best and the other modes at their best k; at a fixed k, the other modes.
    /// </summary>
    private DraftChoice? ExplorationCandidate(DraftChoice best, int[] bestK)
    {
        Span<DraftChoice> list = stackalloc DraftChoice[2 + 2];
        int n = 0;
        if (_fixedLength is null && best.K == 0)
            foreach (var m in _modes) list[n++] = new(m, 1);
        else if (_fixedLength is not 0)
        {
            if (_fixedLength is null)
            {
                if (best.K < MaxDraftLength) list[n++] = best with { K = best.K + 1 };
                if (best.K > 1) list[n++] = best with { K = best.K - 1 };
            }
            for (int i = 0; i < _modes.Length; i++)
                if (_modes[i] != best.Mode) list[n++] = new(_modes[i], _fixedLength ?? Math.Max(1, bestK[i]));
        }
        return n == 0 ? null : list[_explored % n];
    }

    /// <summary>Expected tokens per sequence of a step (1 for a plain step).</summary>
    private double Expected(DraftChoice c)
    {
        if (c.K == 0) return 1;
        double alpha = Math.Min(AlphaOf(c.Mode), 0.999);
        return (1 - Math.Pow(alpha, c.K + 1)) / (1 - alpha);
    }

    private double StepTime(DraftChoice c) => c.K == 0 ? _restNow[0] : c.K * _draftNow[IndexOf(c.Mode)] + _restNow[c.K];

    private int IndexOf(ExecutionMode mode)
    {
        int i = Array.IndexOf(_modes, mode);
        return i >= 0 ? i : throw new ArgumentOutOfRangeException(nameof(mode), mode, $"Not a candidate draft mode ({string.Join(", ", _modes)}).");
    }

    /// <summary>Seconds of a plain step, the unit of the drafting costs; 1 (seconds) when plain steps are never run (a fixed k ≥ 1).</summary>
    private double Reference => _rest[0].Count > 0 ? _rest[0].Estimate : 1;

    /// <summary>The rest of a step at k in plain steps (k = 0: exactly 1 once measured); NaN when unmeasured.</summary>
    private double Measured(int k) => k == 0 ? (_rest[0].Count > 0 ? 1 : double.NaN) : _rest[k].Estimate;

    private double RestTime(int k) => _restNow[k];

    /// <summary>The rest of a step at k in plain steps, interpolated/extrapolated from the measured k where unmeasured.</summary>
    private double Interpolated(int k)
    {
        if (!double.IsNaN(Measured(k))) return Measured(k);
        // Linear interpolation/extrapolation between the nearest measured lengths (t(0) is measured first).
        int lo = k, hi = k;
        while (lo > 0 && double.IsNaN(Measured(lo))) lo--;
        while (hi < _rest.Length && double.IsNaN(Measured(hi))) hi++;
        if (double.IsNaN(Measured(lo))) return hi < _rest.Length ? Measured(hi) : double.NaN;
        if (hi < _rest.Length) return Measured(lo) + (Measured(hi) - Measured(lo)) * (k - lo) / (hi - lo);
        int prev = lo - 1;
        while (prev >= 0 && double.IsNaN(Measured(prev))) prev--;
        double slope = prev >= 0 ? Math.Max(0, (Measured(lo) - Measured(prev)) / (lo - prev)) : 0.05 * Measured(lo);
        return Measured(lo) + slope * (k - lo);
    }
}
