namespace QSpec.Cli;

/// <summary>What <c>qspec bench</c> measures.</summary>
internal sealed record BenchSettings(string[] Modes, int Batch, int MaxTokens, string DraftLength, string DraftBits,
                                     double? SyntheticAcceptance, int Repeats, bool ForwardOnly, int Runs = 3)
{
    public static readonly string[] KnownModes = ["fp32", "w4a16", "w4a4", "w4a8", "qspec"];

    public void Validate(bool synthetic)
    {
        foreach (var m in Modes)
            if (!KnownModes.Contains(m)) throw new ArgumentException($"Unknown mode '{m}' in --modes; use {string.Join(", ", KnownModes)}.", "--modes");
        if (Modes.Length == 0) throw new ArgumentException("--modes is empty.", "--modes");
        if (Batch is < 1 or > 32) throw new ArgumentOutOfRangeException("--batch", Batch, "Must be in 1..32.");
        if (MaxTokens < 1) throw new ArgumentOutOfRangeException("--max-tokens", MaxTokens, "Must be positive.");
        if (Repeats < 1) throw new ArgumentOutOfRangeException("--repeats", Repeats, "Must be positive.");
        if (Runs < 1) throw new ArgumentOutOfRangeException("--runs", Runs, "Must be positive.");
        if (MaxTokens < 2 && !ForwardOnly) throw new ArgumentOutOfRangeException("--max-tokens", MaxTokens, "Must be at least 2: decode tokens/s times tokens 2..N (the first comes out of the prompt prefill).");
        DraftOptions.Create(DraftLength, DraftBits, MaxTokens, Generation.SamplingOptions.Greedy); // --draft-length, --draft-bits
        if (SyntheticAcceptance is double p)
        {
            if (!synthetic) throw new ArgumentException("--synthetic-acceptance is only for --synthetic shapes (it is not a quality measurement).", "--synthetic-acceptance");
            if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException("--synthetic-acceptance", p, "Must be in [0, 1].");
        }
        if (synthetic && Modes.Contains("fp32")) throw new ArgumentException("Synthetic models have INT4 weights only; drop fp32 from --modes.", "--modes");
    }
}
