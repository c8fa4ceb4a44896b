namespace QSpec.Cli;

/// <summary>One generation measurement.</summary>
internal sealed record BenchRow(string Mode, int Batch, long Tokens, double Seconds, double TokensPerSecond,
                                double? AcceptanceRate, double? MeanAcceptedLength, double LiveMb)
{
    /// <summary>QSpec only: acceptance rate at each draft position (for --plot).</summary>
    public IReadOnlyList<double> AcceptanceByPosition { get; init; } = [];

    public double? Speedup { get; set; }
}

/// <summary>The results of <c>qspec bench</c>, as a table or as JSON.</summary>
internal sealed class BenchReport(string model, string backend, int batch, double? syntheticAcceptance)
{
    public int Batch => batch;
    public Dictionary<string, double> DecodeMs { get; } = [];
    public SortedDictionary<int, double> VerifyMs { get; } = [];
    public List<BenchRow> Rows { get; } = [];

    /// <summary>c = draft (W4A4) forward / W4A16 forward, one token each.</summary>
    public double? C => Ratio("w4a4");
    /// <summary>c for a W4A8 draft.</summary>
    public double? C8 => Ratio("w4a8");

    private double? Ratio(string mode) => DecodeMs.TryGetValue(mode, out var d) && DecodeMs.TryGetValue("w4a16", out var b) ? d / b : null;

    public void ComputeSpeedups()
    {
        var baseline = Rows.FirstOrDefault(r => r.Mode == "w4a16");
        foreach (var r in Rows) r.Speedup = baseline is null ? null : r.TokensPerSecond / baseline.TokensPerSecond;
    }

    public Dictionary<string, object?> ToJson() => new()
    {
        ["model"] = model,
        ["backend"] = backend,
        ["batch"] = batch,
        ["synthetic_acceptance"] = syntheticAcceptance,
        ["c"] = C,
        ["c_w4a8"] = C8,
        ["v"] = VerifyMs.ToDictionary(kv => kv.Key.ToString(), kv => DecodeMs.TryGetValue("w4a16", out var b) ? kv.Value / b : double.NaN),
        ["decode_ms"] = DecodeMs,
        ["verify_ms"] = VerifyMs.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value),
        ["rows"] = Rows.Select(r => new Dictionary<string, object?>
        {
            ["mode"] = r.Mode, ["batch"] = r.Batch, ["tokens"] = r.Tokens, ["seconds"] = r.Seconds,
            ["tokens_per_second"] = r.TokensPerSecond, ["acceptance_rate"] = r.AcceptanceRate,
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
        o.WriteLine("live MB: live managed memory (weights + KV cache + scratch + decoder state) at the end of a B = 1 run.");
        o.WriteLine($"{"mode",-7} {"batch",5} {"tokens",7} {"seconds",8} {"tok/s",9} {"accept",7} {"mean acc",8} {"speedup",7} {"live MB",8}");
        foreach (var r in Rows)
            o.WriteLine($"{r.Mode,-7} {r.Batch,5} {r.Tokens,7} {r.Seconds,8:F2} {r.TokensPerSecond,9:F1} {F(r.AcceptanceRate, "P1"),7} {F(r.MeanAcceptedLength, "F2"),8} {F(r.Speedup, "F2"),7} {(r.LiveMb > 0 ? r.LiveMb.ToString("F1") : "-"),8}");
    }

    /// <summary>What the columns mean, printed above the numbers.</summary>
    public static IReadOnlyList<string> Legend { get; } =
    [
        "  c        = one-token W4A4 (draft) forward time / one-token W4A16 forward time: what a draft token costs.",
        "  v[k]     = W4A16 forward over k+1 tokens (the verify pass) / one-token W4A16 forward: what verifying k drafts costs.",
        "  mean acc = draft tokens accepted per QSpec step (0..k); a step emits mean acc + 1 tokens, so at fixed k",
        "             the speedup over w4a16 is about (1 + mean acc) / (k * c + v[k]). accept = accepted / drafted.",
    ];

    private static string F(double? v, string format) => v is double d && double.IsFinite(d) ? d.ToString(format) : "-";
}
