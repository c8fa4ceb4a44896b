namespace QSpec.Generation;

/// <summary>
/// Turns logits into a token: argmax at temperature 0, else a draw from the filtered distribution
/// (logit bias and penalties on the context, then temperature, top-k, top-p and min-p). <see cref="ComputeProbabilities(ReadOnlySpan{float}, Span{float}, ReadOnlySpan{int})"/>
/// exposes that distribution so speculative decoding applies exactly the same function of (logits, context) to the
/// draft and the verifier, which keeps rejection sampling exact under every option.
/// </summary>
public sealed class Sampler
{
    private readonly Random _random;
    private int[] _order = [];
    private float[] _transformed = [];
    private int[] _counts = [];
    private float[] _probabilities = [], _sorted = [];

    /// <summary>Creates a sampler; a null seed in <paramref name="options"/> draws a random one.</summary>
    public Sampler(SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _random = options.Seed is int seed ? SeededRandom.Create(seed) : new Random();
    }

    /// <summary>The options.</summary>
    public SamplingOptions Options { get; }

    /// <summary>A uniform draw in [0, 1) from this sampler's stream.</summary>
    public double NextUniform() => _random.NextDouble();

    /// <summary>Picks the next token from <paramref name="logits"/> (length V); the penalties see no context.</summary>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is empty, or (when sampling) holds a NaN.</exception>
    public int Sample(ReadOnlySpan<float> logits) => Sample(logits, []);

    /// <summary>Picks the next token from <paramref name="logits"/> after the context <paramref name="history"/> (prompt and generated ids).</summary>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is empty, or (when sampling) holds a NaN.</exception>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        if (logits.IsEmpty) throw new ArgumentException("The logits are empty.", nameof(logits));
        if (Options.IsGreedy) return Argmax(Transform(logits, history));
        if (_probabilities.Length != logits.Length) _probabilities = new float[logits.Length];
        ComputeProbabilities(logits, _probabilities, history);
        return SampleFrom(_probabilities);
    }

    /// <summary>
    /// The logits after <see cref="SamplingOptions.LogitBias"/> and the repetition, frequency and presence penalties
    /// over the last <see cref="SamplingOptions.PenaltyWindow"/> ids of <paramref name="history"/>; the input itself when
    /// none is set. The returned span is this sampler's buffer, valid until its next call.
    /// </summary>
    public ReadOnlySpan<float> Transform(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        if (!Options.TransformsLogits) return logits;
        int v = logits.Length;
        if (_transformed.Length != v) { _transformed = new float[v]; _counts = new int[v]; }
        logits.CopyTo(_transformed);
        if (Options.LogitBias is { } bias)
            foreach (var (id, b) in bias)
            {
                if (id >= v) throw new ArgumentOutOfRangeException(nameof(SamplingOptions.LogitBias), id, $"Logit bias id must be in 0..{v - 1}.");
                _transformed[id] += b;
            }
        var window = Options.PenaltyWindow == 0 || history.Length <= Options.PenaltyWindow ? history : history[^Options.PenaltyWindow..];
        foreach (int t in window) if ((uint)t < (uint)v) _counts[t]++;
        foreach (int t in window)
        {
            if ((uint)t >= (uint)v || _counts[t] == 0) continue; // each distinct id once
            ref float l = ref _transformed[t];
            if (Options.RepetitionPenalty != 1f) l = l > 0 ? l / Options.RepetitionPenalty : l * Options.RepetitionPenalty;
            l -= _counts[t] * Options.FrequencyPenalty + Options.PresencePenalty;
            _counts[t] = 0;
        }
        return _transformed;
    }

    /// <summary>Index of the largest logit, the first on ties.</summary>
    public static int Argmax(ReadOnlySpan<float> logits) => Kernels.Ops.ElementwiseReference.Argmax(logits);

    /// <summary>The sampling distribution of <paramref name="logits"/> with no context (penalties see nothing).</summary>
    public void ComputeProbabilities(ReadOnlySpan<float> logits, Span<float> probabilities) => ComputeProbabilities(logits, probabilities, []);

    /// <summary>
    /// The sampling distribution after the context <paramref name="history"/>: <see cref="Transform"/>, then
    /// softmax(logits / T) restricted to the top-k tokens, then to the top-p nucleus, then to min-p, renormalized.
    /// At temperature 0 it is one-hot at the argmax. Ties in the ordering are broken by token id.
    /// +Infinity logits share all the probability; −Infinity ones get none.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is empty or (when sampling) holds a NaN, or the lengths differ.</exception>
    public void ComputeProbabilities(ReadOnlySpan<float> logits, Span<float> probabilities, ReadOnlySpan<int> history)
    {
        logits = Transform(logits, history);
        int v = logits.Length;
        if (v == 0) throw new ArgumentException("The logits are empty.", nameof(logits));
        if (probabilities.Length != v) throw new ArgumentException($"Expected {v} probabilities, got {probabilities.Length}.", nameof(probabilities));
        if (Options.IsGreedy)
        {
            probabilities.Clear();
            probabilities[Argmax(logits)] = 1f;
            return;
        }
        float max = float.NegativeInfinity;
        foreach (float l in logits)
        {
            if (float.IsNaN(l)) throw new ArgumentException("The logits hold a NaN.", nameof(logits));
            max = MathF.Max(max, l);
        }
        if (float.IsNegativeInfinity(max)) throw new ArgumentException("Every logit is -Infinity.", nameof(logits));
        double sum = 0;
        // Divide rather than multiply by 1/T: 1/T overflows to +Inf for T below ~2.9e-39, and 0 · Inf is NaN. The shift
        // by the max (an infinite max shifts nothing and keeps exactly the infinite logits) keeps every exponent ≤ 0.
        float t = Options.Temperature;
        for (int i = 0; i < v; i++)
        {
            float shifted = float.IsPositiveInfinity(max) ? (logits[i] == max ? 0f : float.NegativeInfinity) : logits[i] - max;
            probabilities[i] = shifted == 0f ? 1f : MathF.Exp(shifted / t);
            sum += probabilities[i];
        }
        for (int i = 0; i < v; i++) probabilities[i] = (float)(probabilities[i] / sum);
        if (Options.TopK == 0 && Options.TopP >= 1f) { ApplyMinP(probabilities); return; }

        // The ids by probability (descending, id ascending on ties), then keep a prefix: top-k orders its k best ids
        // only; top-p alone orders a prefix that grows ×4 until the nucleus fits (TopTokens: the same ids, in the same
        // order, as the first entries of a full sort).
        if (_order.Length != v) _order = new int[v];
        if (_sorted.Length != v) _sorted = new float[v];
        var p = _sorted;
        probabilities.CopyTo(p);
        int keep = Options.TopK > 0 ? Math.Min(Options.TopK, v) : v;
        int ordered = Options.TopK > 0 || Options.TopP >= 1f ? keep : Math.Min(keep, 64);
        TopTokens.Select(p, _order, ordered);
        if (Options.TopP < 1f)
        {
            double cumulative = 0;
            for (int i = 0; i < keep; i++)
            {
                if (i == ordered) TopTokens.Select(p, _order, ordered = Math.Min(keep, 4 * ordered)); // extends the same prefix
                cumulative += p[_order[i]];
                if (cumulative >= Options.TopP) { keep = i + 1; break; }
            }
        }
        double kept = 0;
        for (int i = 0; i < keep; i++) kept += p[_order[i]];
        probabilities.Clear();
        for (int i = 0; i < keep; i++) probabilities[_order[i]] = (float)(p[_order[i]] / kept);
        ApplyMinP(probabilities);
    }

    /// <summary>Zeroes probabilities below MinP × the largest and renormalizes (the largest always survives).</summary>
    private void ApplyMinP(Span<float> probabilities)
    {
        if (Options.MinP <= 0f) return;
        float max = 0f;
        foreach (float q in probabilities) max = MathF.Max(max, q);
        float threshold = Options.MinP * max;
        double kept = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            if (probabilities[i] < threshold) probabilities[i] = 0f;
            kept += probabilities[i];
        }
        for (int i = 0; i < probabilities.Length; i++) probabilities[i] = (float)(probabilities[i] / kept);
    }

    /// <summary>Draws an index from a distribution (inverse CDF over ascending ids) with this sampler's stream.</summary>
    public int SampleFrom(ReadOnlySpan<float> probabilities) => Speculative.AcceptanceRule.SampleFrom(probabilities, _random.NextDouble());
}
