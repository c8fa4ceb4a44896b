using QSpec.Inference;
using QSpec.Speculative;

namespace QSpec.Core.Tests.Speculative;

/// <summary>The online draft choice (mode and k) from measured costs and acceptance, fed with synthetic measurements.</summary>
public sealed class DraftLengthControllerTests
{
    private static readonly ExecutionMode[] Both = [ExecutionMode.W4A8, ExecutionMode.W4A4];

    /// <summary>Feeds <paramref name="steps"/> steps: draft cost c per mode, verify time 1 + slope·k, geometric acceptance α per mode.</summary>
    private static List<DraftChoice> Drive(DraftLengthController c, int steps, Func<ExecutionMode, double> cost, double slope,
                                           Func<ExecutionMode, double> alpha, int sequences = 1, int seed = 1)
    {
        var rng = new Random(seed);
        var choices = new List<DraftChoice>();
        for (int i = 0; i < steps; i++)
        {
            var ch = c.Next();
            choices.Add(ch);
            int successes = 0, trials = 0;
            for (int s = 0; s < sequences; s++)
            {
                int a = 0;
                while (a < ch.K && rng.NextDouble() < alpha(ch.Mode)) a++;
                successes += a;
                trials += a + (a < ch.K ? 1 : 0);
            }
            c.Record(ch, successes, trials, cost(ch.Mode), 1 + slope * ch.K);
        }
        return choices;
    }

    [Fact]
    public void Bootstrap_MeasuresPlainDecodingThenEachMode()
    {
        var c = new DraftLengthController(8, Both);
        Assert.Equal(new DraftChoice(ExecutionMode.W4A8, 0), c.Next());
        c.Record(new(ExecutionMode.W4A8, 0), 0, 0, 0, 1.0);
        Assert.Equal(new DraftChoice(ExecutionMode.W4A8, 3), c.Next());
        c.Record(new(ExecutionMode.W4A8, 3), 3, 3, 0.5, 1.2);
        Assert.Equal(new DraftChoice(ExecutionMode.W4A4, 3), c.Next());
    }

    [Fact]
    public void EqualCosts_PicksTheBetterAcceptedMode()
    {
        var c = new DraftLengthController(8, [ExecutionMode.W4A4, ExecutionMode.W4A8]);
        var choices = Drive(c, 200, _ => 0.6, 0.15, m => m == ExecutionMode.W4A8 ? 0.99 : 0.7);
        var late = choices.Skip(100).ToArray();
        Assert.True(late.Count(x => x.Mode == ExecutionMode.W4A8) > 0.9 * late.Length, string.Join(",", late));
        Assert.True(late.Where(x => x.Mode == ExecutionMode.W4A8).Average(x => x.K) >= 3, $"mean k {late.Where(x => x.Mode == ExecutionMode.W4A8).Average(x => x.K)}, alpha {c.AlphaOf(ExecutionMode.W4A8)}");
        Assert.InRange(c.AlphaOf(ExecutionMode.W4A8), 0.95, 1.0);
    }

    [Fact]
    public void DraftAsCostlyAsVerifyAndNoBatchingGain_FallsBackToPlainDecoding()
    {
        var c = new DraftLengthController(8, Both);
        var late = Drive(c, 200, _ => 1.0, 1.0, _ => 0.9).Skip(100).ToArray();
        Assert.True(late.Count(x => x.K == 0) > 0.85 * late.Length, string.Join(",", late));
    }

    [Fact]
    public void Acceptance_IsTheGeometricEstimateNotAcceptedOverDrafted()
    {
        // α = 0.9 at k = 3: accepted / drafted would read (0.9 + 0.81 + 0.729) / 3 = 0.81.
        var c = new DraftLengthController(3, [ExecutionMode.W4A8], fixedLength: 3);
        Drive(c, 400, _ => 0.3, 0.1, _ => 0.9, sequences: 4, seed: 7);
        Assert.InRange(c.AlphaOf(ExecutionMode.W4A8), 0.85, 0.95);
    }

    [Fact]
    public void FractionalMeanAcceptance_OverSeveralSequences_IsCounted()
    {
        // Four sequences accepting 3, 0, 0, 0 of k = 3: one success in four is not "0 per sequence" (the integer-division bug).
        var c = new DraftLengthController(3, [ExecutionMode.W4A8], fixedLength: 3);
        for (int i = 0; i < 50; i++) c.Record(c.Next(), 3, 3 + 3, 0.3, 1.3);
        Assert.InRange(c.AlphaOf(ExecutionMode.W4A8), 0.45, 0.55);
    }

    [Fact]
    public void FixedLength_WithAutoMode_KeepsK()
    {
        var c = new DraftLengthController(5, Both, fixedLength: 5);
        Assert.All(Drive(c, 100, m => m == ExecutionMode.W4A4 ? 0.3 : 0.5, 0.1, _ => 0.8), x => Assert.Equal(5, x.K));
    }

    [Fact]
    public void InvalidArguments_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>("maxDraftLength", () => new DraftLengthController(0));
        Assert.Throws<ArgumentException>("draftModes", () => new DraftLengthController(3, [ExecutionMode.W4A16]));
        Assert.Throws<ArgumentOutOfRangeException>("fixedLength", () => new DraftLengthController(3, Both, fixedLength: 4));
        var c = new DraftLengthController(3);
        Assert.Throws<ArgumentOutOfRangeException>("trials", () => c.Record(new(ExecutionMode.W4A4, 1), 2, 1, 0.1, 1));
    }
}
