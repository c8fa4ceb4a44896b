namespace QSpec.Speculative;

/// <summary>
/// The outcome of verifying k draft tokens: the first <see cref="Accepted"/> drafts are kept and followed by
/// <see cref="NextToken"/>, drawn from the target model (a correction on rejection, a bonus token otherwise).
/// </summary>
public readonly record struct Verdict(int Accepted, int NextToken);

/// <summary>
/// Speculative acceptance, as pure functions. Names follow Leviathan et al. (2023): the target model's
/// distributions are p (here the W4A16 verifier), the draft model's are q (the W4A4/W4A8 drafter), drafts are x_i.
/// </summary>
public static class AcceptanceRule
{
    /// <summary>
    /// Greedy verification: accept x_i while it equals argmax p_i, then emit the target's argmax at the first
    /// mismatch, or the bonus argmax p_{k+1} when every draft matched. Output equals greedy decoding with p.
    /// </summary>
    /// <param name="drafts">x_1..x_k.</param>
    /// <param name="targetArgmax">argmax p_1..argmax p_{k+1} (length k + 1).</param>
    public static Verdict Greedy(ReadOnlySpan<int> drafts, ReadOnlySpan<int> targetArgmax)
    {
        if (targetArgmax.Length != drafts.Length + 1)
            throw new ArgumentException($"Need k + 1 = {drafts.Length + 1} target tokens, got {targetArgmax.Length}.", nameof(targetArgmax));
        int i = 0;
        while (i < drafts.Length && drafts[i] == targetArgmax[i]) i++;
        return new Verdict(i, targetArgmax[i]);
    }

    /// <summary>
    /// Speculative rejection sampling: for i = 1..k accept x_i with probability min(1, p_i(x_i) / q_i(x_i));
    /// at the first rejection emit a sample from norm(max(0, p_i − q_i)); when all k are accepted emit a bonus sample
    /// from p_{k+1}. The emitted sequence is distributed exactly as sampling from p.
    /// </summary>
    /// <param name="drafts">x_1..x_k, each drawn from its q_i.</param>
    /// <param name="q">Draft distributions q_1..q_k, each of length V.</param>
    /// <param name="p">Target distributions p_1..p_{k+1}, each of length V.</param>
    /// <param name="uniform">Source of independent uniform draws in [0, 1).</param>
    public static Verdict RejectionSample(ReadOnlySpan<int> drafts, IReadOnlyList<float[]> q, IReadOnlyList<float[]> p, Func<double> uniform)
    {
        int k = drafts.Length;
        if (q.Count < k) throw new ArgumentException($"Need {k} draft distributions, got {q.Count}.", nameof(q));
        if (p.Count < k + 1) throw new ArgumentException($"Need {k + 1} target distributions, got {p.Count}.", nameof(p));
        for (int i = 0; i < k; i++)
        {
            int x = drafts[i];
            float px = p[i][x], qx = q[i][x];
            // qx > 0 always holds for a token drawn from q; the guard keeps a hand-made q from dividing by zero.
            double acceptance = qx <= 0f ? (px > 0f ? 1.0 : 0.0) : Math.Min(1.0, (double)px / qx);
            if (uniform() < acceptance) continue;
            return new Verdict(i, SampleResidual(p[i], q[i], uniform()));
        }
        return new Verdict(k, SampleFrom(p[k], uniform()));
    }

    /// <summary>Draws from norm(max(0, p − q)) with the uniform <paramref name="u"/>; falls back to p when p ≤ q everywhere.</summary>
    public static int SampleResidual(ReadOnlySpan<float> p, ReadOnlySpan<float> q, double u)
    {
        double total = 0;
        for (int i = 0; i < p.Length; i++) total += Math.Max(0f, p[i] - q[i]);
        if (total <= 0) return SampleFrom(p, u);
        double target = u * total, cdf = 0;
        int last = -1;
        for (int i = 0; i < p.Length; i++)
        {
            double r = Math.Max(0f, p[i] - q[i]);
            if (r <= 0) continue;
            cdf += r;
            last = i;
            if (target < cdf) return i;
        }
        return last;
    }

    /// <summary>Inverse-CDF draw from a distribution (ascending ids) with the uniform <paramref name="u"/>.</summary>
    public static int SampleFrom(ReadOnlySpan<float> distribution, double u)
    {
        double total = 0;
        foreach (float v in distribution) total += v;
        double target = u * total, cdf = 0;
        int last = 0;
        for (int i = 0; i < distribution.Length; i++)
        {
            if (distribution[i] <= 0f) continue;
            cdf += distribution[i];
            last = i;
            if (target < cdf) return i;
        }
        return last;
    }
}
