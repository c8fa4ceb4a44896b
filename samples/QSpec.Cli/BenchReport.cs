namespace QSpec.Cli;

/// <summary>One generation measurement.</summary>
internal sealed record BenchRow(string Mode, int Batch, long Tokens, double Seconds, double TokensPerSecond,
                                double? AcceptanceRate, double? MeanAcceptedLength, double LiveMb)
{
    /// <summary>QSpec only: acceptance rate at each draft position (for --plot).</summary>
    public IReadOnlyList<double> AcceptanceByPosition { get; init; } = [];

    /// <summary>Slowest and fastest of the rounds (the row's tokens/s is their median).</summary>
    public double MinTokensPerSecond { get; init; } = double.NaN;
    public double MaxTokensPerSecond { get; init; } = double.NaN;

    /// <summary>Median over the rounds of this mode's tokens/s / W4A16's in the same round.</summary>
    public double? Speedup { get; set; }
}

/// <summary>The results of <c>qspec bench</c>, as a table or as JSON.</summary>
internal sealed class BenchReport(string model, string backend, int batch, double? syntheticAcceptance, int runs = 1)
{
    public int Batch => batch;
    public Dictionary<string, double> DecodeMs { get; } = [];
    public SortedDictionary<int, double> VerifyMs { get; } = [];
    public List<BenchRow> Rows { get; } = [];
    /// <summary>B = 1 QSpec with an auto choice: the controller's estimates at the end of the last run.</summary>
    public string? ControllerSummary { get; set; }

    /// <summary>c = draft (W4A4) forward / W4A16 forward, one token each.</summary>
    public double? C => Ratio("w4a4");
    /// <summary>c for a W4A8 draft.</summary>
    public double? C8 => Ratio("w4a8");

    private double? Ratio(string mode) => DecodeMs.TryGetValue(mode, out var d) && DecodeMs.TryGetValue("w4a16", out var b) ? d / b : null;

    /// <summary>
    /// Speedups against W4A16 from the per-round tokens/s of each mode (rounds interleave the modes): the median of the
    /// same-round ratios, which cancels load that changes between rounds better than a ratio of medians.
    /// </summary>
    public void ComputeSpeedups(IReadOnlyDictionary<string, IReadOnlyList<double>> perRound)
    {
        if (!perRound.TryGetValue("w4a16", out var baseline)) return;
        foreach (var r in Rows)
        {
            var ratios = perRound[r.Mode].Zip(baseline, (x, b) => x / b).Where(double.IsFinite).Order().ToArray();
            r.Speedup = ratios.Length == 0 ? null : ratios.Length % 2 == 1 ? ratios[ratios.Length / 2] : (ratios[ratios.Length / 2 - 1] + ratios[ratios.Length / 2]) / 2;
        }
    }

    public Dictionary<string, object?> ToJson() => new()
    {
        ["model"] = model,
        ["backend"] = backend,
        ["batch"] = batch,
        ["runs"] = runs,
        ["measured"] = "decode tokens/s: (tokens(N) - tokens(1)) / (t(N) - t(1)), median of the rounds (modes interleaved); prefill, first token, cache allocation and forced GCs excluded",
        ["synthetic_acceptance"] = syntheticAcceptance,
        ["c"] = C,
        ["c_w4a8"] = C8,
        ["v"] = VerifyMs.ToDictionary(kv => kv.Key.ToString(), kv => DecodeMs.TryGetValue("w4a16", out var b) ? kv.Value / b : double.NaN),
        ["decode_ms"] = DecodeMs,
        ["verify_ms"] = VerifyMs.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value),
        ["controller"] = ControllerSummary,
        ["rows"] = Rows.Select(r => new Dictionary<string, object?>
        {
            ["mode"] = r.Mode, ["batch"] = r.Batch, ["tokens"] = r.Tokens, ["seconds"] = r.Seconds,
            ["tokens_per_second"] = r.TokensPerSecond, ["tokens_per_second_min"] = r.MinTokensPerSecond, ["tokens_per_second_max"] = r.MaxTokensPerSecond,
            ["acceptance_rate"] = r.AcceptanceRate,
            ["mean_accepted_length"] = r.MeanAcceptedLength, ["speedup_vs_w4a16"] = r.Speedup, ["live_managed_mb"] = r.LiveMb > 0 ? r.LiveMb : null,
        }).ToArray(),
    };

    public void Print(TextWriter o)
    {
        o.WriteLine($"model {model}, backend {backend}, batch {batch}");
        foreach (var line in Legend) o.WriteLine(line);
        if (syntheticAcceptance is double p)
            o.WriteLine($"SYNTHETIC acceptance: each draft token accepted with probability {p:P0} given the ones before it were; timing of the real loop only, not a quality claim.");
        o.WriteLine("forward, one token: " + string.Join(", ", DecodeMs.Select(kv => $"{kv.Key} {kv.Value:F3} ms")));
        if (C is double c) o.WriteLine($"c (W4A4 draft / W4A16) = {c:F3}" + (C8 is double c8 ? $", c (W4A8) = {c8:F3}" : ""));
        if (VerifyMs.Count > 0 && DecodeMs.TryGetValue("w4a16", out var b))
            o.WriteLine("v[k] ((k+1)-token W4A16 / 1-token): " + string.Join(", ", VerifyMs.Select(kv => $"{kv.Key}: {kv.Value / b:F2}")));
        if (Rows.Count == 0) return;
        foreach (var line in RowLegend(runs)) o.WriteLine(line);
        o.WriteLine($"{"mode",-7} {"batch",5} {"tokens",7} {"seconds",8} {"tok/s",9} {"min-max",13} {"accept",7} {"mean acc",8} {"speedup",7} {"live MB",8}");
        foreach (var r in Rows)
            o.WriteLine($"{r.Mode,-7} {r.Batch,5} {r.Tokens,7} {r.Seconds,8:F2} {r.TokensPerSecond,9:F1} {F(r.MinTokensPerSecond, "F1") + "-" + F(r.MaxTokensPerSecond, "F1"),13} " +
                        $"{F(r.AcceptanceRate, "P1"),7} {F(r.MeanAcceptedLength, "F2"),8} {F(r.Speedup, "F2"),7} {(r.LiveMb > 0 ? r.LiveMb.ToString("F1") : "-"),8}");
        if (ControllerSummary is not null) o.WriteLine(ControllerSummary);
    }

    /// <summary>What the columns mean, printed above the numbers.</summary>
    public static IReadOnlyList<string> Legend { get; } =
    [
        "  c        = one-token W4A4 (draft) forward time / one-token W4A16 forward time: what a draft token costs.",
        "  v[k]     = W4A16 forward over k+1 tokens (the verify pass) / one-token W4A16 forward: what verifying k drafts costs.",
        "  mean acc = draft tokens accepted per QSpec step (0..k); a step emits mean acc + 1 tokens, so at fixed k",
        "             the speedup over w4a16 is about (1 + mean acc) / (k * c + v[k]). accept = accepted / drafted.",
    ];

    /// <summary>What the generation rows measure (llama-bench tg's quantity: decode only).</summary>
    public static IReadOnlyList<string> RowLegend(int runs) =>
    [
        "  tok/s    = DECODE tokens/s, as llama-bench tg: (tokens(N) - tokens(1)) / (t(N) - t(1)) over all sequences, t(n) the",
        "             wall time of a generation to n tokens per sequence, so cache allocation, the prompt prefill and the first",
        $"             token are excluded (a forced GC runs before each timed run, outside it). Median of {runs} round(s); a round",
        "             interleaves the modes generation by generation (repeating them to >= 0.3 s per mode on small models);",
        "             min-max = slowest and fastest round; tokens/seconds = the median round's decoded part.",
        "  speedup  = median over the rounds of tok/s / W4A16 tok/s in the same round.",
        "  live MB  = live managed memory (weights + KV cache + scratch + decoder state) at the end of a B = 1 run.",
    ];

    private static string F(double? v, string format) => v is double d && double.IsFinite(d) ? d.ToString(format) : "-";
}
