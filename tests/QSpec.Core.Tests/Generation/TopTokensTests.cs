using QSpec.Generation;

namespace QSpec.Core.Tests.Generation;

/// <summary>
/// The sampler's partial ordering (<see cref="TopTokens"/>) against a full sort by (probability descending, id
/// ascending), with many ties, at every prefix length that matters (1, 2, 7, 64, all but one, all); and the sampler's
/// top-k / top-p / min-p distribution against the same rule written with that full sort, bit for bit.
/// </summary>
public sealed class TopTokensTests
{
    /// <summary>Probabilities from a few distinct values (ties everywhere), zeros included.</summary>
    private static float[] Tied(int v, int seed)
    {
        var r = new Random(seed);
        float[] values = [0f, 1e-9f, 0.001f, 0.01f, 0.01f, 0.02f, 0.3f];
        return Enumerable.Range(0, v).Select(_ => values[r.Next(values.Length)]).ToArray();
    }

    private static int[] FullSort(float[] p)
    {
        var ids = Enumerable.Range(0, p.Length).ToArray();
        Array.Sort(ids, (a, b) => p[a] != p[b] ? p[b].CompareTo(p[a]) : a.CompareTo(b));
        return ids;
    }

    [Theory]
    [InlineData(1, 1)] [InlineData(5, 1)] [InlineData(5, 2)] [InlineData(5, 5)]
    [InlineData(1000, 1)] [InlineData(1000, 7)] [InlineData(1000, 64)] [InlineData(1000, 999)] [InlineData(1000, 1000)]
    public void Select_IsThePrefixOfAFullSort(int v, int count)
    {
        foreach (int seed in new[] { 1, 2, 3 })
        {
            var p = Tied(v, seed);
            var order = new int[v];
            TopTokens.Select(p, order, count);
            Assert.Equal(FullSort(p).Take(count), order.Take(count));
        }
    }

    [Fact]
    public void Select_RejectsACountOutsideTheVocabulary()
    {
        var p = new float[4];
        Assert.Throws<ArgumentOutOfRangeException>("count", () => TopTokens.Select(p, new int[4], 0));
        Assert.Throws<ArgumentOutOfRangeException>("count", () => TopTokens.Select(p, new int[8], 5));
        Assert.Throws<ArgumentException>("order", () => TopTokens.Select(p, new int[2], 3));
    }

    public static TheoryData<int, float, float> Filters => new()
    {
        { 1, 1f, 0f }, { 3, 1f, 0f }, { 40, 1f, 0f }, { 40, 0.9f, 0f }, { 0, 0.9f, 0f }, { 0, 0.5f, 0.05f },
        { 0, 0.999f, 0f }, { 40, 1f, 0.1f }, { 5000, 0.95f, 0f }, { 32000, 1f, 0f },
    };

    /// <summary>
    /// 32,000 logits with ties (the softmax of equal logits is equal), at temperatures 1 and 2 (a flat nucleus: top-p
    /// alone grows its ordered prefix several times): the sampler's distribution equals the rule applied after a full sort.
    /// </summary>
    [Theory, MemberData(nameof(Filters))]
    public void Distribution_EqualsTheRuleOverAFullSort(int topK, float topP, float minP)
    {
        var r = new Random(topK + (int)(topP * 1000));
        var logits = Enumerable.Range(0, 32000).Select(_ => (float)Math.Round(r.NextDouble() * 40 - 20, 1)).ToArray();
        foreach (float t in new[] { 1f, 2f })
        {
            var softmax = new float[logits.Length];
            new Sampler(new SamplingOptions { Temperature = t, Seed = 1 }).ComputeProbabilities(logits, softmax);
            var got = new float[logits.Length];
            new Sampler(new SamplingOptions { Temperature = t, TopK = topK, TopP = topP, MinP = minP, Seed = 1 }).ComputeProbabilities(logits, got);
            Assert.Equal(Reference(softmax, topK, topP, minP), got);
        }
    }

    /// <summary>Top-k, top-p and min-p on the softmax, written with a full sort (the sampler's rule before TopTokens).</summary>
    private static float[] Reference(float[] p, int topK, float topP, float minP)
    {
        var order = FullSort(p);
        int keep = topK > 0 ? Math.Min(topK, p.Length) : p.Length;
        if (topP < 1f)
        {
            double cumulative = 0;
            for (int i = 0; i < keep; i++)
            {
                cumulative += p[order[i]];
                if (cumulative >= topP) { keep = i + 1; break; }
            }
        }
        double kept = 0;
        for (int i = 0; i < keep; i++) kept += p[order[i]];
        var q = new float[p.Length];
        for (int i = 0; i < keep; i++) q[order[i]] = (float)(p[order[i]] / kept);
        if (minP > 0f)
        {
            float threshold = minP * q.Max();
            double sum = 0;
            for (int i = 0; i < q.Length; i++) { if (q[i] < threshold) q[i] = 0f; sum += q[i]; }
            for (int i = 0; i < q.Length; i++) q[i] = (float)(q[i] / sum);
        }
        return q;
    }
}
