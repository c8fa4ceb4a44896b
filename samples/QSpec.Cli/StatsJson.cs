using QSpec.Speculative;

namespace QSpec.Cli;

/// <summary>The JSON field names of <see cref="SpeculativeStatistics"/>.</summary>
internal static class StatsJson
{
    public static void AddSpeculative(IDictionary<string, object?> o, SpeculativeStatistics s)
    {
        o["steps"] = s.Steps;
        o["drafted"] = s.Drafted;
        o["accepted"] = s.Accepted;
        o["acceptance_rate"] = Finite(s.AcceptanceRate);
        o["mean_accepted_length"] = Finite(s.MeanAcceptedLength);
        o["acceptance_rate_by_position"] = s.AcceptanceRateByPosition;
        o["draft_seconds"] = s.DraftTime.TotalSeconds;
        o["verify_seconds"] = s.VerifyTime.TotalSeconds;
        o["other_seconds"] = s.OtherTime.TotalSeconds;
    }

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;
}
