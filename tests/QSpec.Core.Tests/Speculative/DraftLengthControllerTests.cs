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
    public void Bootstrap_MeasuresPlainDecodingThenEachModeAtKOneAndThreeThenPlainUpToTheUnit()
    {
        var c = new DraftLengthController(8, Both);
        Assert.Equal(new DraftChoice(ExecutionMode.W4A8, 0), c.Next());
        c.Record(new(ExecutionMode.W4A8, 0), 0, 0, 0, 2.0); // a stalled first plain step
        foreach (var mode in Both)
            foreach (int k in new[] { 1, 3 })
            {
                Assert.Equal(new DraftChoice(mode, k), c.Next());
                c.Record(new(mode, k), k, k, 0.5, k == 1 ? 1.1 : 1.2);
            }
        for (int i = 1; i < 8; i++)
        {
            Assert.Equal(new DraftChoice(ExecutionMode.W4A8, 0), c.Next());
            c.Record(new(ExecutionMode.W4A8, 0), 0, 0, 0, 1.0);
        }
        // The drafting costs are restated in the unit of the plain steps' estimate (1.0 s), not the stalled first one.
        Assert.Equal(0.5, c.DraftCostOf(ExecutionMode.W4A8), 6);
        Assert.Equal(1.1, c.VerifyCost(1), 6);
        Assert.Equal(1.2, c.VerifyCost(3), 6);
    }

    [Theory]
    [InlineData(1, new[] { 1 })]
    [InlineData(2, new[] { 1, 2 })]
    public void Bootstrap_ShortMaximum_DraftsEachLengthUpToIt(int maxK, int[] lengths)
    {
        var c = new DraftLengthController(maxK, [ExecutionMode.W4A8]);
        Assert.Equal(0, c.Next().K);
        c.Record(new(ExecutionMode.W4A8, 0), 0, 0, 0, 1.0);
        foreach (int k in lengths)
        {
            Assert.Equal(new DraftChoice(ExecutionMode.W4A8, k), c.Next());
            c.Record(new(ExecutionMode.W4A8, k), k, k, 0.5, 1.1);
        }
        Assert.Equal(0, c.Next().K);
    }

    [Fact]
    public void ConcaveVerifyCost_DraftsAtKOneRightAfterTheBootstrap()
    {
        // Measured on an AVX2-only host (TinyLlama-1.1B shape, W4A16 dequantization-bound): c = 0.48 for the W4A8 draft
        // and v[1..8] = 1.07, 1.94, 2.27, 2.72, 2.97, 3.6, 3.67, 4.1, so k = 1 pays 1.28x at α = 0.99 and k = 3 1.06x.
        // A line through v[0] and v[3] alone reads v[1] = 1.42, which with the bootstrap's α estimate (0.875 after 3 of 3
        // accepted) makes k = 1 look 0.99x: plain steps stayed on until exploration happened to re-measure it.
        double[] v = [1, 1.07, 1.94, 2.27, 2.72, 2.97, 3.6, 3.67, 4.1];
        var c = new DraftLengthController(8, Both);
        for (int plain = 0; plain < 8;) // the bootstrap: its drafting steps and the 8 plain steps of the unit
        {
            var ch = c.Next();
            c.Record(ch, ch.K, ch.K, 0.48, v[ch.K]); // every draft accepted
            if (ch.K == 0) plain++;
        }
        Assert.Equal(1.07, c.VerifyCost(1), 6);
        Assert.Equal(new DraftChoice(ExecutionMode.W4A8, 1), c.Next());
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

    /// <summary>
    /// Simulates <paramref name="steps"/> steps on a machine whose true costs are c per draft forward and 1 + slope·k for
    /// the rest of a step, where each timing is stalled (×<paramref name="stall"/>) with probability
    /// <paramref name="stallRate"/>, as another process on the cores does, and otherwise up to <paramref name="jitter"/> slower. Returns the true throughput after the first
    /// <paramref name="skip"/> steps relative to plain decoding (1 token per 1.0 s), using the expected tokens of each
    /// choice (so the ratio measures the choices, not the coin flips).
    /// </summary>
    private static double SimulatedSpeedup(DraftLengthController c, int steps, double draftCost, double slope, double alpha,
                                           double stallRate, double stall, int skip = 100, int seed = 3, Func<int, double>? firstRest = null,
                                           double jitter = 0.05)
        => Simulate(c, steps, draftCost, slope, alpha, stallRate, stall, skip, seed, firstRest, jitter).Speedup;

    /// <summary>
    /// <see cref="SimulatedSpeedup"/> with the choices made after the skipped steps, counted (for failure messages);
    /// <paramref name="draftNoise"/>, when given, draws each draft timing's factor instead of the stall/jitter noise.
    /// </summary>
    private static (double Speedup, string Choices) Simulate(DraftLengthController c, int steps, double draftCost, double slope, double alpha,
                                           double stallRate, double stall, int skip = 100, int seed = 3, Func<int, double>? firstRest = null,
                                           double jitter = 0.05, Func<Random, double>? draftNoise = null)
    {
        var rng = new Random(seed);
        double tokens = 0, time = 0;
        var seen = new HashSet<int>();
        var counts = new SortedDictionary<string, int>();
        for (int i = 0; i < steps; i++)
        {
            var ch = c.Next();
            int a = 0;
            while (a < ch.K && rng.NextDouble() < alpha) a++;
            double Noise() => rng.NextDouble() < stallRate ? stall : 1 + jitter * rng.NextDouble();
            double rest = (1 + slope * ch.K) * Noise();
            if (firstRest is not null && seen.Add(ch.K)) rest = firstRest(ch.K) * (1 + slope * ch.K);
            c.Record(ch, a, a + (a < ch.K ? 1 : 0), draftCost * (draftNoise is null ? Noise() : draftNoise(rng)), rest);
            if (i < skip) continue;
            counts[$"{ch.Mode}/{ch.K}"] = counts.GetValueOrDefault($"{ch.Mode}/{ch.K}") + 1;
            tokens += ch.K == 0 ? 1 : (1 - Math.Pow(alpha, ch.K + 1)) / (1 - alpha);
            time += ch.K * draftCost + 1 + slope * ch.K;
        }
        return (tokens / time, string.Join(" ", counts.Select(kv => $"{kv.Key}:{kv.Value}")));
    }

    /// <summary>The best expected throughput over fixed k (plain decoding included, k = 0), relative to plain decoding.</summary>
    private static double BestFixed(double draftCost, double slope, double alpha, int maxK, int minK = 0)
        => Enumerable.Range(minK, maxK + 1 - minK).Max(k => k == 0 ? 1 : (1 - Math.Pow(alpha, k + 1)) / (1 - alpha) / (k * draftCost + 1 + slope * k));

    [Theory]
    [InlineData(1.0, 1.0, 0.9)]     // drafts cost a verify and verifying k more rows costs k more steps: plain wins
    [InlineData(0.8, 0.2, 0.99)]    // close to break-even, slightly losing (best fixed k = 1 at 0.995x)
    [InlineData(1.14, 0.4, 0.99)]   // a draft measured dearer than a verify (seen on a loaded machine)
    public void DraftingThatDoesNotPay_UnderStalls_StaysWithin2PercentOfPlain(double draftCost, double slope, double alpha)
    {
        Assert.True(BestFixed(draftCost, slope, alpha, 8, minK: 1) < 1.0, "the case must not pay");
        foreach (double stallRate in new[] { 0.0, 0.1, 0.3 })
            foreach (double jitter in new[] { 0.05, 0.3 })
            {
                var c = new DraftLengthController(8, Both);
                var (s, choices) = Simulate(c, 3000, draftCost, slope, alpha, stallRate, 4, jitter: jitter);
                Assert.True(s >= 0.98, $"stall rate {stallRate}, jitter {jitter}: {s:F3}x plain; {choices}");
            }
    }

    [Theory]
    [InlineData(0.3, 0.1, 0.95)]
    [InlineData(0.6, 0.15, 0.99)]
    [InlineData(0.4, 0.2, 0.9)]
    public void DraftingThatPays_UnderStalls_GetsCloseToTheBestFixedK(double draftCost, double slope, double alpha)
    {
        double best = BestFixed(draftCost, slope, alpha, 8);
        Assert.True(best > 1.1, $"the case must pay ({best:F2})");
        foreach (double stallRate in new[] { 0.0, 0.1, 0.3 })
            foreach (double jitter in new[] { 0.05, 0.3 })
            {
                var c = new DraftLengthController(8, Both);
                var (s, choices) = Simulate(c, 3000, draftCost, slope, alpha, stallRate, 4, jitter: jitter);
                Assert.True(s >= 0.95 * best, $"stall rate {stallRate}, jitter {jitter}: {s:F3}x plain, best fixed k {best:F3}x; {choices}");
            }
    }

    [Fact]
    public void OneStalledFirstMeasurementPerK_DoesNotLockTheChoice()
    {
        // The first timing at every k is 20x (the JIT compiling that tile shape, a GC): a running average kept it for as
        // long as that k looked too dear to try again.
        double best = BestFixed(0.3, 0.1, 0.95, 8);
        var c = new DraftLengthController(8, Both);
        double s = SimulatedSpeedup(c, 3000, 0.3, 0.1, 0.95, 0, 1, skip: 500, firstRest: _ => 20);
        Assert.True(s >= 0.95 * best, $"{s:F3}x plain, best fixed k {best:F3}x");
    }

    [Theory]
    [InlineData(0.8, 0.3, 0.99, 2.0)]   // 0.97x at the true costs
    [InlineData(0.85, 0.25, 0.99, 3.0)] // 0.98x
    [InlineData(0.7, 0.45, 0.99, 2.0)]  // 0.96x
    public void DraftingThatDoesNotPay_UnderLoadPhases_StaysWithin2PercentOfPlain(double draftCost, double slope, double alpha, double load)
    {
        // Load that comes and goes in phases of 20-300 steps (another process on the cores), each timing also 0-15 % slow.
        // A model of the AVX2 VM of 3 Dec 2026, where one bench run drafted at k = 1 estimating 1.32x and measured 0.96x
        // (within that host's ±20 % run-to-run noise); this model does not reproduce such an optimism.
        Assert.True(BestFixed(draftCost, slope, alpha, 8, minK: 1) < 1.0, "the case must not pay");
        for (int seed = 1; seed <= 4; seed++)
        {
            var (s, _) = SimulatePhases(new DraftLengthController(8, Both), seed, alpha, slope, 0.15,
                                        rng => rng.NextDouble() < 0.5 ? 1 : load, (_, _) => draftCost, factor => factor);
            Assert.True(s >= 0.98, $"seed {seed}: {s:F3}x plain");
        }
    }

    /// <summary>
    /// 4000 steps on a machine in phases of 20-300 steps, each in a state φ drawn by <paramref name="phase"/>: a draft of
    /// mode m truly costs <paramref name="draft"/>(m, φ) and the rest of a step 1 + slope·k, and every timing is measured
    /// × <paramref name="load"/>(φ) × (1 + jitter·U). Returns the true throughput after the first 200 steps relative to
    /// plain decoding (expected tokens of each choice over its true time), and the drafting steps among them.
    /// </summary>
    private static (double Speedup, int Drafting) SimulatePhases(DraftLengthController c, int seed, double alpha, double slope, double jitter,
                                                                 Func<Random, double> phase, Func<ExecutionMode, double, double> draft,
                                                                 Func<double, double> load)
    {
        var rng = new Random(seed);
        double tokens = 0, time = 0, state = 0;
        int phaseLeft = 0, drafting = 0;
        for (int i = 0; i < 4000; i++)
        {
            if (phaseLeft-- <= 0) { state = phase(rng); phaseLeft = rng.Next(20, 300); }
            var ch = c.Next();
            int a = 0;
            while (a < ch.K && rng.NextDouble() < alpha) a++;
            double Noise() => load(state) * (1 + jitter * rng.NextDouble());
            double cost = draft(ch.Mode, state);
            c.Record(ch, a, a + (a < ch.K ? 1 : 0), cost * Noise(), (1 + slope * ch.K) * Noise());
            if (i < 200) continue;
            if (ch.K > 0) drafting++;
            tokens += ch.K == 0 ? 1 : (1 - Math.Pow(alpha, ch.K + 1)) / (1 - alpha);
            time += ch.K * cost + 1 + slope * ch.K;
        }
        return (tokens / time, drafting);
    }

    [Theory]
    [InlineData(0.87, 0.19, 1, 6, 0.8)]
    [InlineData(0.87, 0.19, 2, 6, 0.8)]
    [InlineData(0.95, 0.13, 3, 6, 0.8)]
    [InlineData(0.87, 0.19, 4, 8, 0.6)]
    [InlineData(0.95, 0.13, 5, 8, 0.6)]
    public void DraftingThatBarelyMisses_WithFastOutlierDrafts_StaysWithin2PercentOfPlain(double draftCost, double slope, int seed,
                                                                                        int fastEvery, double fastFactor)
    {
        // The Zen 5 VM of 4 Dec 2026 at B = 1: c ≈ 0.87-0.95 and v[1] ≈ 1.13-1.19 (fixed k = 1 decoded at 0.97x plain),
        // but now and then a draft forward ran in a fast state of the machine (the fastest read c = 0.76), and a
        // minimum-of-window estimate kept it; with an entry margin of 1.03 the controller drafted and decoded at 0.91-0.96x.
        // Here one draft timing in fastEvery is fastFactor × its cost, every timing also 0-10 % slow. Every case fails with the
        // old margins and a minimum estimate (0.910-0.950x); the 1-in-8-at-0.6x cases also with the new margins and a
        // minimum estimate (0.910-0.941x), and pass with the lower-quartile one.
        Assert.True(BestFixed(draftCost, slope, 0.99, 8, minK: 1) < 1.0, "the case must not pay");
        var c = new DraftLengthController(8, Both);
        var (s, choices) = Simulate(c, 4000, draftCost, slope, 0.99, 0, 1, skip: 200, seed: seed, jitter: 0.1,
                                    draftNoise: r => r.NextDouble() < 1.0 / fastEvery ? fastFactor : 1 + 0.1 * r.NextDouble());
        Assert.True(s >= 0.98, $"{s:F3}x plain; {choices}");
    }

    [Theory]
    [InlineData(0.62, 1.0, 0.35, 1)]
    [InlineData(0.62, 1.0, 0.35, 2)]
    [InlineData(0.55, 0.9, 0.32, 3)]
    [InlineData(0.55, 0.9, 0.32, 4)]
    [InlineData(0.62, 1.1, 0.40, 5)]
    public void DraftCostInTwoStates_StaysWithin2PercentOfPlain(double fast, double slow, double slope, int seed)
    {
        // The Zen 4 VM of 6 Dec 2026: the memory-bound W4A8 draft ran in a fast state (c ≈ 0.55-0.62) and a slow one
        // (c ≈ 0.9-1.1) for stretches of steps, while the W4A16 steps kept their time; at α = 0.99 drafting then pays
        // at most ~2 % in the fast state (below the entry margin) and loses 15-25 % in the slow one. The controller must
        // not carry the fast state's cost into a slow stretch. (It passes as first written: this model does not reproduce
        // the one compare round of that evening whose QSpec drafted, 0.39 accepted per step, and decoded at 0.88x plain.)
        var (s, drafted) = SimulatePhases(new DraftLengthController(8, Both), seed, 0.99, slope, 0.1,
                                          rng => rng.NextDouble() < 0.5 ? fast : slow,
                                          (mode, cost) => mode == ExecutionMode.W4A8 ? cost : cost + 0.05, _ => 1);
        Assert.True(s >= 0.98, $"{s:F3}x plain, {drafted} drafting steps of 3800");
    }

    [Fact]
    public void NearBreakEven_DoesNotFlipBackAndForth()
    {
        // Drafting at k = 1 estimated 1.01x: inside the entry margin, so plain steps stay the choice but for exploration.
        var c = new DraftLengthController(1, [ExecutionMode.W4A8]);
        var late = Drive(c, 600, _ => 0.98, 0.0, _ => 0.99).Skip(100).ToArray();
        Assert.True(late.Count(x => x.K == 0) > 0.85 * late.Length, string.Join(",", late));
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
