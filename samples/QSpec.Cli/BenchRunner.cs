using System.Diagnostics;
using QSpec.Generation;
using QSpec.Inference;
using QSpec.Speculative;

namespace QSpec.Cli;

/// <summary>Runs the measurements of <c>qspec bench</c>.</summary>
internal sealed class BenchRunner(LlamaModel model, BenchSettings settings, string modelName)
{
    private const int ContextPosition = 32; // decode timings are taken with this many positions already cached
    private const int MaxVerifyDraft = 7;
    private const int WarmQSpecTokens = 32;      // per sequence: past the draft controller's bootstrap
    private const double MinDecodeSeconds = 0.3; // per mode and round: generation pairs repeat until this long

    public static IReadOnlyList<IReadOnlyList<int>> LoadPrompts(string? file, Tokenization.LlamaTextTokenizer tokenizer, int count)
    {
        var paragraphs = Perplexity.ReadParagraphs(file ?? SharedData.TinyStoriesValid);
        if (paragraphs.Count == 0) throw new ArgumentException($"No paragraphs in '{file}'.", "--prompts");
        return Enumerable.Range(0, count)
            .Select(i => tokenizer.Encode(string.Join(' ', paragraphs[i % paragraphs.Count].Split(' ').Take(8)), addBos: true)).ToArray();
    }

    public BenchReport Run(IReadOnlyList<IReadOnlyList<int>> prompts)
    {
        var report = new BenchReport(modelName, model.Backend.Name, settings.Batch, settings.SyntheticAcceptance, settings.Runs);
        MeasureForwards(report);
        if (settings.ForwardOnly) return report;
        // Warm-up (JIT tiers, caches, the QSpec controller's bootstrap): short runs for at least half a second per mode,
        // so small models are not timed in tier-0 code, and for QSpec at least WarmQSpecTokens tokens, so the
        // controller's bootstrap (plain steps, then one drafting step per mode) is behind it, as it is after the first
        // generation of a long-lived model (its controller is kept per model and batch size).
        foreach (var mode in settings.Modes)
        {
            var warm = Stopwatch.StartNew();
            long tokens = 0;
            do tokens += Generate(mode, prompts, Math.Min(8, settings.MaxTokens), measureMemory: false).Tokens / prompts.Count;
            while (warm.Elapsed.TotalSeconds < 0.5 || (mode == "qspec" && tokens < WarmQSpecTokens));
        }
        // Rounds interleave the modes generation by generation, so load that comes and goes on a shared machine hits
        // every mode alike; a small model repeats its generations within the round until each mode has been timed for
        // MinDecodeSeconds. Odd rounds run the modes in reverse order (A B, B A, ...), so load that rises or falls
        // steadily over a round does not favour the mode that always runs first.
        var runs = settings.Modes.ToDictionary(m => m, _ => new List<DecodeRun>());
        var reversed = Enumerable.Reverse(settings.Modes).ToArray();
        for (int round = 0; round < settings.Runs; round++)
        {
            var acc = settings.Modes.ToDictionary(m => m, _ => new DecodeRun(0, 0, null));
            bool first = true;
            do
            {
                foreach (var mode in round % 2 == 0 ? settings.Modes : reversed)
                {
                    var pair = MeasureDecode(mode, prompts, measureMemory: first && round == settings.Runs - 1);
                    acc[mode] = new DecodeRun(acc[mode].Tokens + pair.Tokens, acc[mode].Seconds + pair.Seconds, pair.Stats);
                }
                first = false;
            }
            while (acc.Values.Any(r => r.Seconds < MinDecodeSeconds && r.Tokens > 0));
            foreach (var mode in settings.Modes) runs[mode].Add(acc[mode].Tokens > 0 ? acc[mode] : acc[mode] with { Seconds = double.NaN });
        }
        foreach (var mode in settings.Modes)
        {
            var ordered = runs[mode].OrderBy(r => r.TokensPerSecond).ToArray();
            var median = ordered[(ordered.Length - 1) / 2]; // the lower middle for an even count: never flattering
            var stats = runs[mode][^1].Stats;
            double tps = ordered.Length % 2 == 1 ? median.TokensPerSecond : (median.TokensPerSecond + ordered[ordered.Length / 2].TokensPerSecond) / 2;
            report.Rows.Add(new BenchRow(mode, settings.Batch, median.Tokens, median.Seconds, tps,
                stats?.AcceptanceRate, stats?.MeanAcceptedLength, _liveBytes.GetValueOrDefault(mode) / (1024.0 * 1024.0))
            {
                AcceptanceByPosition = stats?.AcceptanceRateByPosition ?? [],
                MinTokensPerSecond = ordered[0].TokensPerSecond, MaxTokensPerSecond = ordered[^1].TokensPerSecond,
            });
        }
        report.ControllerSummary = _controller;
        report.ComputeSpeedups(runs.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<double>)kv.Value.Select(r => r.TokensPerSecond).ToArray()));
        return report;
    }

    /// <summary>One decode measurement: tokens decoded (summed over sequences), their seconds, and the last long run's statistics.</summary>
    private sealed record DecodeRun(long Tokens, double Seconds, SpeculativeStatistics? Stats)
    {
        public double TokensPerSecond => Tokens / Seconds;
    }

    /// <summary>
    /// Decode throughput, what llama-bench's tg measures: a run to --max-tokens tokens minus a run to 1 token. The short
    /// run pays what is not decoding (cache allocation, the prompt prefill, the first token, which comes out of the
    /// prefill's logits), so the difference is the time of the remaining N - 1 tokens per sequence (for QSpec: the
    /// draft/verify steps that emit them, acceptance and bookkeeping included). A full collection runs before each
    /// timed run, outside the timing, so every run starts from the same heap and no run pays for another's garbage.
    /// </summary>
    private DecodeRun MeasureDecode(string mode, IReadOnlyList<IReadOnlyList<int>> prompts, bool measureMemory)
    {
        var first = Generate(mode, prompts, 1, measureMemory: false);
        var full = Generate(mode, prompts, settings.MaxTokens, measureMemory);
        // Sequences that stop at once leave nothing to time: counted as no tokens (the row then reads NaN, not infinity).
        long tokens = Math.Max(0, full.Tokens - first.Tokens);
        return new DecodeRun(tokens, tokens > 0 ? Math.Max(full.Seconds - first.Seconds, 1e-9) : 0, full.Stats);
    }

    private void MeasureForwards(BenchReport report)
    {
        using var session = model.CreateSession();
        var context = Enumerable.Range(0, ContextPosition).Select(i => 1 + i % (model.Config.VocabSize - 1)).ToArray();
        session.Prefill(context, 0, model.PreferredMode);
        foreach (var mode in new[] { ExecutionMode.Fp32, ExecutionMode.W4A16, ExecutionMode.W4A8, ExecutionMode.W4A4 })
        {
            if (!model.Supports(mode)) continue;
            report.DecodeMs[mode.ToString().ToLowerInvariant()] = Median(() => session.Prefill([5], ContextPosition, mode));
        }
        if (!model.Supports(ExecutionMode.W4A16)) return;
        for (int k = 1; k <= MaxVerifyDraft; k++)
        {
            var tokens = Enumerable.Repeat(5, k + 1).ToArray();
            report.VerifyMs[k] = Median(() => session.Prefill(tokens, ContextPosition, ExecutionMode.W4A16));
        }
    }

    /// <summary>
    /// The median of --repeats timed calls after a warm-up to tier-1 JIT code: at least 60 calls and 0.3 s, at most 3 s
    /// (tiered compilation promotes a method after 30 calls past a quiet spell). With one warm-up call the first mode
    /// timed in a process ran partly at tier 0: on the Intel Xeon guest (8 Dec 2026) W4A8 read 1.06x the W4A16 forward
    /// (c = 1.06) while its decode ran 1.14x faster, and with DOTNET_TieredCompilation=0 c read 0.72.
    /// </summary>
    private double Median(Action forward)
    {
        var warm = Stopwatch.StartNew();
        for (int calls = 0; (calls < 60 || warm.Elapsed.TotalSeconds < 0.3) && warm.Elapsed.TotalSeconds < 3; calls++) forward();
        var times = new double[settings.Repeats];
        for (int i = 0; i < times.Length; i++)
        {
            long t = Stopwatch.GetTimestamp();
            forward();
            model.Backend.Synchronize();
            times[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        }
        Array.Sort(times);
        return times[times.Length / 2];
    }

    private readonly Dictionary<string, long> _liveBytes = [];
    private string? _controller;

    /// <summary>The auto controller's estimates (B = 1): what its choice of mode and k rests on.</summary>
    private static string Describe(DraftLengthController c) =>
        "controller estimates: " + string.Join(", ", c.DraftModes.Select(m => $"{m} alpha {c.AlphaOf(m):F3} c {c.DraftCostOf(m):F2}")) +
        "; v[k] (step beyond drafts / plain step) " + string.Join(" ", Enumerable.Range(1, c.MaxDraftLength).Select(k => c.VerifyCost(k).ToString("F2"))) +
        $"; estimated speedup of its choice {c.EstimatedSpeedup:F2}";

    /// <summary>Live managed bytes (weights, caches, scratch, decoder state) while a B = 1 session is still open.</summary>
    private static long LiveBytes() => GC.GetTotalMemory(forceFullCollection: true);

    private static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>
    /// Generates up to <paramref name="maxTokens"/> tokens per prompt; the seconds cover the whole generation (caches,
    /// prefill, decoding) and nothing else: the collection before and the live-memory probe after are outside them.
    /// </summary>
    private (long Tokens, double Seconds, SpeculativeStatistics? Stats) Generate(string mode, IReadOnlyList<IReadOnlyList<int>> prompts, int maxTokens,
                                                                                bool measureMemory)
    {
        Collect();
        long start = Stopwatch.GetTimestamp();
        double Stop() { model.Backend.Synchronize(); return Stopwatch.GetElapsedTime(start).TotalSeconds; }
        if (mode == "qspec")
        {
            var options = DraftOptions.Create(settings.DraftLength, settings.DraftBits, maxTokens, SamplingOptions.Greedy);
            double? rate = settings.SyntheticAcceptance;
            if (prompts.Count == 1)
            {
                using var session = model.CreateSession();
                var decoder = new SpeculativeDecoder(session, options);
                long n = (rate is double p ? SyntheticAcceptance.Generate(decoder, prompts[0], p) : decoder.Generate(prompts[0])).LongCount();
                double seconds = Stop();
                if (decoder.Controller is { } dc) _controller = Describe(dc);
                if (measureMemory) _liveBytes[mode] = LiveBytes();
                return (n, seconds, decoder.Statistics);
            }
            // Batched caches are freed inside the call: live memory is not measured.
            var result = rate is double q ? SyntheticAcceptance.GenerateBatch(model, prompts, options, q) : BatchGenerator.Generate(model, prompts, options);
            return (result.Tokens.Sum(t => (long)t.Count), Stop(), result.Statistics);
        }
        var gen = new GenerationOptions { MaxTokens = maxTokens, Mode = ModelLoading.ParseMode(mode) };
        if (prompts.Count == 1)
        {
            using var session = model.CreateSession();
            long n = new Generator(session).Generate(prompts[0], gen).LongCount();
            double seconds = Stop();
            if (measureMemory) _liveBytes[mode] = LiveBytes();
            return (n, seconds, null);
        }
        long tokens = BatchGenerator.Generate(model, prompts, gen).Tokens.Sum(t => (long)t.Count);
        return (tokens, Stop(), null);
    }
}
