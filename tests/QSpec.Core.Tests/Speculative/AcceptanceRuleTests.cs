using QSpec.Speculative;

namespace QSpec.Core.Tests.Speculative;

public class AcceptanceRuleTests
{
    private const double DistributionTolerance = 0.01; // total variation, 200k draws over 4 outcomes

    [Theory]
    [InlineData(new[] { 5, 6, 7 }, new[] { 5, 6, 7, 8 }, 3, 8)]
    [InlineData(new[] { 5, 6, 7 }, new[] { 5, 9, 7, 8 }, 1, 9)]
    [InlineData(new[] { 5, 6, 7 }, new[] { 4, 6, 7, 8 }, 0, 4)]
    [InlineData(new int[0], new[] { 3 }, 0, 3)]
    public void GreedyAcceptsTheMatchingPrefixThenTakesTheTargetToken(int[] drafts, int[] target, int accepted, int next)
        => Assert.Equal(new Verdict(accepted, next), AcceptanceRule.Greedy(drafts, target));

    [Fact]
    public void GreedyRejectsMismatchedLengths()
        => Assert.Throws<ArgumentException>(() => AcceptanceRule.Greedy([1, 2], [1, 2]));

    [Fact]
    public void RejectionSamplingFirstTokenIsDistributedAsTarget()
    {
        // Hand-made p (target) and q (draft) over 4 tokens; x ~ q, then the rule. The first emitted token must follow p.
        float[] p = [0.5f, 0.3f, 0.15f, 0.05f];
        float[] q = [0.1f, 0.2f, 0.3f, 0.4f];
        float[] bonus = [0.25f, 0.25f, 0.25f, 0.25f];
        var rng = new Random(123);
        var counts = new int[4];
        const int draws = 200_000;
        for (int n = 0; n < draws; n++)
        {
            int x = AcceptanceRule.SampleFrom(q, rng.NextDouble());
            var v = AcceptanceRule.RejectionSample([x], [q], [p, bonus], rng.NextDouble);
            counts[v.Accepted == 1 ? x : v.NextToken]++;
        }
        double tv = 0.5 * Enumerable.Range(0, 4).Sum(i => Math.Abs(counts[i] / (double)draws - p[i]));
        Assert.True(tv < DistributionTolerance, $"total variation {tv}");
    }

    [Fact]
    public void RejectionSamplingTwoTokensFollowTargetJointly()
    {
        // k = 2 with position-dependent p and q: the joint law of the first two emitted tokens must be p1(a)·p2(b).
        float[] p1 = [0.6f, 0.4f, 0f], q1 = [0.2f, 0.3f, 0.5f];
        float[] p2 = [0.1f, 0.1f, 0.8f], q2 = [0.7f, 0.2f, 0.1f];
        float[] p3 = [0.5f, 0.25f, 0.25f];
        var rng = new Random(7);
        var joint = new int[9];
        const int draws = 200_000;
        for (int n = 0; n < draws; n++)
        {
            int x1 = AcceptanceRule.SampleFrom(q1, rng.NextDouble()), x2 = AcceptanceRule.SampleFrom(q2, rng.NextDouble());
            var v = AcceptanceRule.RejectionSample([x1, x2], [q1, q2], [p1, p2, p3], rng.NextDouble);
            int a, b;
            if (v.Accepted == 0)
                (a, b) = (v.NextToken, AcceptanceRule.SampleFrom(p2, rng.NextDouble())); // continue from p2 as plain decoding would
            else (a, b) = (x1, v.Accepted == 1 ? v.NextToken : x2);
            joint[a * 3 + b]++;
        }
        double tv = 0;
        for (int a = 0; a < 3; a++) for (int b = 0; b < 3; b++) tv += Math.Abs(joint[a * 3 + b] / (double)draws - p1[a] * p2[b]);
        Assert.True(tv / 2 < DistributionTolerance, $"total variation {tv / 2}");
    }

    [Fact]
    public void IdenticalDistributionsAcceptEveryDraft()
    {
        float[] p = [0.2f, 0.8f];
        var rng = new Random(1);
        for (int n = 0; n < 1000; n++)
            Assert.Equal(2, AcceptanceRule.RejectionSample([n % 2, 1], [p, p], [p, p, p], rng.NextDouble).Accepted);
    }

    [Fact]
    public void ResidualNeverPicksATokenWherePIsBelowQ()
    {
        float[] p = [0.5f, 0.1f, 0.4f], q = [0.2f, 0.6f, 0.2f];
        for (double u = 0; u < 1; u += 0.01) Assert.NotEqual(1, AcceptanceRule.SampleResidual(p, q, u));
    }
}
