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

    public static IReadOnlyList<IReadOnlyList<int>> LoadPrompts(string? file, Tokenization.LlamaTextTokenizer tokenizer, int count)
    {
        var paragraphs = Perplexity.ReadParagraphs(file ?? SharedData.TinyStoriesValid);
        if (paragraphs.Count == 0) throw new ArgumentException($"No paragraphs in '{file}'.", "--prompts");
        return Enumerable.Range(0, count)
            .Select(i => tokenizer.Encode(string.Join(' ', paragraphs[i % paragraphs.Count].Split(' ').Take(8)), addBos: true)).ToArray();
    }

    public BenchReport Run(IReadOnlyList<IReadOnlyList<int>> prompts)
    {
        var report = new BenchReport(modelName, model.Backend.Name, settings.Batch, settings.SyntheticAcceptance);
        MeasureForwards(report);
        if (settings.ForwardOnly) return report;
        foreach (var mode in settings.Modes)
        {
            // Warm-up (JIT tiers, caches): short runs for at least half a second, so small models are not timed in tier-0 code.
            var warm = Stopwatch.StartNew();
            do Generate(mode, prompts, Math.Min(8, settings.MaxTokens));
            while (warm.Elapsed.TotalSeconds < 0.5);
            var sw = Stopwatch.StartNew();
            var (tokens, stats) = Generate(mode, prompts, settings.MaxTokens);
            double seconds = sw.Elapsed.TotalSeconds;
            report.Rows.Add(new BenchRow(mode, settings.Batch, tokens, seconds, tokens / seconds,
                stats?.AcceptanceRate, stats?.MeanAcceptedLength, _liveBytes / (1024.0 * 1024.0)) { AcceptanceByPosition = stats?.AcceptanceRateByPosition ?? [] });
        }
        report.ComputeSpeedups();
        return report;
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

    private double Median(Action forward)
    {
        forward(); // warm-up
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

    private long _liveBytes;

    /// <summary>Live managed bytes (weights, caches, scratch, decoder state) while a B = 1 session is still open.</summary>
    private static long LiveBytes() => GC.GetTotalMemory(forceFullCollection: true);

    private (long Tokens, SpeculativeStatistics? Stats) Generate(string mode, IReadOnlyList<IReadOnlyList<int>> prompts, int maxTokens)
    {
        if (mode == "qspec")
        {
            var options = DraftOptions.Create(settings.DraftLength, settings.DraftBits, maxTokens, SamplingOptions.Greedy);
            double? rate = settings.SyntheticAcceptance;
            if (prompts.Count == 1)
            {
                using var session = model.CreateSession();
                var decoder = new SpeculativeDecoder(session, options);
                long n = (rate is double p ? SyntheticAcceptance.Generate(decoder, prompts[0], p) : decoder.Generate(prompts[0])).LongCount();
                _liveBytes = LiveBytes();
                return (n, decoder.Statistics);
            }
            _liveBytes = 0; // batched caches are freed inside the call: not measured
            var result = rate is double q ? SyntheticAcceptance.GenerateBatch(model, prompts, options, q) : BatchGenerator.Generate(model, prompts, options);
            return (result.Tokens.Sum(t => (long)t.Count), result.Statistics);
        }
        var gen = new GenerationOptions { MaxTokens = maxTokens, Mode = ModelLoading.ParseMode(mode) };
        if (prompts.Count == 1)
        {
            using var session = model.CreateSession();
            long n = new Generator(session).Generate(prompts[0], gen).LongCount();
            _liveBytes = LiveBytes();
            return (n, null);
        }
        _liveBytes = 0;
        return (BatchGenerator.Generate(model, prompts, gen).Tokens.Sum(t => (long)t.Count), null);
    }
}
