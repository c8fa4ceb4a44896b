namespace QSpec.Generation;

/// <summary>
/// Turns logits into a token: argmax at temperature 0, else a draw from the filtered distribution
/// (temperature, then top-k, then top-p). <see cref="ComputeProbabilities"/> exposes that distribution so
/// speculative decoding applies exactly the same transformation to the draft and the verifier.
/// </summary>
public sealed class Sampler
{
    private readonly Random _random;
    private int[] _order = [];

    /// <summary>Creates a sampler; a null seed in <paramref name="options"/> draws a random one.</summary>
    public Sampler(SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _random = options.Seed is int seed ? new Random(seed) : new Random();
    }

    /// <summary>The options.</summary>
    public SamplingOptions Options { get; }

    /// <summary>A uniform draw in [0, 1) from this sampler's stream.</summary>
    public double NextUniform() => _random.NextDouble();

    /// <summary>Picks the next token from <paramref name="logits"/> (length V).</summary>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is empty, or (when sampling) holds a NaN.</exception>
    public int Sample(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty) throw new ArgumentException("The logits are empty.", nameof(logits));
        if (Options.IsGreedy) return Argmax(logits);
        var probs = new float[logits.Length];
        ComputeProbabilities(logits, probs);
        return SampleFrom(probs);
    }

    private static int Argmax(ReadOnlySpan<float> logits) => Kernels.Ops.ElementwiseReference.Argmax(logits);

    /// <summary>
    /// The sampling distribution: softmax(logits / T) restricted to the top-k tokens and then to the top-p nucleus,
    /// renormalized. At temperature 0 it is one-hot at the argmax. Ties in the ordering are broken by token id.
    /// +Infinity logits share all the probability; −Infinity ones get none.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is empty or (when sampling) holds a NaN, or the lengths differ.</exception>
    public void ComputeProbabilities(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
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
        if (Options.TopK == 0 && Options.TopP >= 1f) return;

        // Sort ids by probability (descending, id ascending on ties), then keep a prefix.
        if (_order.Length != v) _order = new int[v];
        for (int i = 0; i < v; i++) _order[i] = i;
        var p = probabilities.ToArray();
        Array.Sort(_order, (a, b) => p[a] != p[b] ? p[b].CompareTo(p[a]) : a.CompareTo(b));
        int keep = Options.TopK > 0 ? Math.Min(Options.TopK, v) : v;
        if (Options.TopP < 1f)
        {
            double cumulative = 0;
            for (int i = 0; i < keep; i++)
            {
                cumulative += p[_order[i]];
                if (cumulative >= Options.TopP) { keep = i + 1; break; }
            }
        }
        double kept = 0;
        for (int i = 0; i < keep; i++) kept += p[_order[i]];
        probabilities.Clear();
        for (int i = 0; i < keep; i++) probabilities[_order[i]] = (float)(p[_order[i]] / kept);
    }

    /// <summary>Draws an index from a distribution (inverse CDF over ascending ids) with this sampler's stream.</summary>
    public int SampleFrom(ReadOnlySpan<float> probabilities) => Speculative.AcceptanceRule.SampleFrom(probabilities, _random.NextDouble());
}
