namespace QSpec.Speculative;

/// <summary>
/// Chooses the draft length k online. With acceptance rate α, a step that drafts k tokens emits on average
/// E(k) = (1 − α^(k+1)) / (1 − α) tokens and costs k·t_draft + t_verify(k), so the controller picks the k in
/// 0..kMax that maximizes E(k) / cost(k). k = 0 is plain W4A16 decoding (E = 1, cost t_verify(0)), so the choice is
/// never expected to be slower than plain decoding. Costs are running averages of measured forward times; a
/// verify length not yet measured is interpolated linearly from the measured ones.
/// </summary>
public sealed class DraftLengthController
{
    private const double Smoothing = 0.2;      // weight of a new measurement in the running averages
    private const int ExploreEvery = 16;       // at k = 0, draft one token every this many steps to keep α current
    private const double PriorAlpha = 0.5, PriorWeight = 4;
    private readonly double[] _verify;         // seconds per verify pass of k + 1 rows; NaN when unmeasured
    private double _draft = double.NaN;        // seconds per draft forward
    private double _accepted, _drafted;        // exponentially decayed counts
    private int _stepsAtZero;

    /// <summary>Creates a controller for k in 0..<paramref name="maxDraftLength"/>.</summary>
    public DraftLengthController(int maxDraftLength)
    {
        if (maxDraftLength is < 1 or > SpeculativeOptions.MaxDraftLength)
            throw new ArgumentOutOfRangeException(nameof(maxDraftLength), maxDraftLength, $"Must be in 1..{SpeculativeOptions.MaxDraftLength}.");
        MaxDraftLength = maxDraftLength;
        _verify = Enumerable.Repeat(double.NaN, maxDraftLength + 1).ToArray();
    }

    /// <summary>Largest k considered.</summary>
    public int MaxDraftLength { get; }

    /// <summary>Running acceptance-rate estimate (decayed counts with a weak prior of 0.5).</summary>
    public double Alpha => (_accepted + PriorAlpha * PriorWeight) / (_drafted + PriorWeight);

    /// <summary>c: draft forward time relative to a one-token W4A16 forward (NaN until both are measured).</summary>
    public double DraftCost => _draft / _verify[0];

    /// <summary>v(k): (k+1)-row verify time relative to a one-token W4A16 forward.</summary>
    public double VerifyCost(int k) => VerifyTime(k) / VerifyTime(0);

    /// <summary>Records a step: k drafted, <paramref name="accepted"/> accepted, and the measured forward times.</summary>
    public void Record(int k, int accepted, double draftSecondsPerForward, double verifySeconds)
    {
        if (k > 0)
        {
            _draft = Blend(_draft, draftSecondsPerForward);
            _accepted = _accepted * (1 - Smoothing / 4) + accepted;
            _drafted = _drafted * (1 - Smoothing / 4) + k;
        }
        if (k <= MaxDraftLength) _verify[k] = Blend(_verify[k], verifySeconds);
    }

    /// <summary>The k to use for the next step.</summary>
    public int Next()
    {
        // Bootstrap: measure plain decoding (k = 0) and one speculative length before modelling.
        if (double.IsNaN(_verify[0])) return 0;
        if (double.IsNaN(_draft)) return Math.Min(3, MaxDraftLength);
        double alpha = Math.Min(Alpha, 0.999);
        int best = 0;
        double bestRate = 1.0 / _verify[0];
        for (int k = 1; k <= MaxDraftLength; k++)
        {
            double expected = (1 - Math.Pow(alpha, k + 1)) / (1 - alpha);
            double rate = expected / (k * _draft + VerifyTime(k));
            if (rate > bestRate) { bestRate = rate; best = k; }
        }
        if (best == 0 && ++_stepsAtZero % ExploreEvery == 0) return 1;
        return best;
    }

    private double VerifyTime(int k)
    {
        if (!double.IsNaN(_verify[k])) return _verify[k];
        // Linear interpolation/extrapolation between the nearest measured lengths (t(0) is always measured first).
        int lo = k, hi = k;
        while (lo > 0 && double.IsNaN(_verify[lo])) lo--;
        while (hi < _verify.Length && double.IsNaN(_verify[hi])) hi++;
        if (hi < _verify.Length) return _verify[lo] + (_verify[hi] - _verify[lo]) * (k - lo) / (hi - lo);
        int prev = lo - 1;
        while (prev >= 0 && double.IsNaN(_verify[prev])) prev--;
        double slope = prev >= 0 ? Math.Max(0, (_verify[lo] - _verify[prev]) / (lo - prev)) : 0.05 * _verify[0];
        return _verify[lo] + slope * (k - lo);
    }

    private static double Blend(double old, double x) => double.IsNaN(old) ? x : old + Smoothing * (x - old);
}
