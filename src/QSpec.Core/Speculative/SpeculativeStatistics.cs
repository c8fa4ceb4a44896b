using System.Diagnostics;

namespace QSpec.Speculative;

/// <summary>Counters and timings of a speculative run, updated at every step. Read it any time; not thread-safe.</summary>
public sealed class SpeculativeStatistics
{
    private readonly long[] _draftedAt = new long[SpeculativeOptions.MaxDraftLength];
    private readonly long[] _acceptedAt = new long[SpeculativeOptions.MaxDraftLength];

    /// <summary>Draft/verify steps taken (per sequence).</summary>
    public long Steps { get; private set; }
    /// <summary>Draft tokens proposed.</summary>
    public long Drafted { get; private set; }
    /// <summary>Draft tokens accepted.</summary>
    public long Accepted { get; private set; }
    /// <summary>Tokens emitted (accepted drafts plus one target token per step, less any cut by MaxTokens).</summary>
    public long Tokens { get; private set; }
    /// <summary>Time in draft forwards.</summary>
    public TimeSpan DraftTime { get; private set; }
    /// <summary>Time in verify forwards.</summary>
    public TimeSpan VerifyTime { get; private set; }
    /// <summary>Everything else: prefill, acceptance, sampling, bookkeeping.</summary>
    public TimeSpan OtherTime => TotalTime - DraftTime - VerifyTime;
    /// <summary>Wall time from the start of generation.</summary>
    public TimeSpan TotalTime { get; private set; }

    /// <summary>Accepted / drafted (NaN before any draft).</summary>
    public double AcceptanceRate => Drafted == 0 ? double.NaN : (double)Accepted / Drafted;
    /// <summary>Mean drafts accepted per step.</summary>
    public double MeanAcceptedLength => Steps == 0 ? double.NaN : (double)Accepted / Steps;
    /// <summary>Emitted tokens per second of total time.</summary>
    public double TokensPerSecond => TotalTime.TotalSeconds == 0 ? 0 : Tokens / TotalTime.TotalSeconds;

    /// <summary>Acceptance rate at draft position i (0-based): accepted at i / drafted at i.</summary>
    public IReadOnlyList<double> AcceptanceRateByPosition =>
        Enumerable.Range(0, _draftedAt.Length).TakeWhile(i => _draftedAt[i] > 0).Select(i => (double)_acceptedAt[i] / _draftedAt[i]).ToArray();

    internal void RecordStep(int drafted, int accepted)
    {
        Steps++;
        Drafted += drafted;
        Accepted += accepted;
        for (int i = 0; i < drafted; i++) { _draftedAt[i]++; if (i < accepted) _acceptedAt[i]++; }
    }

    internal void AddTokens(int count) => Tokens += count;
    internal void AddDraftTime(long ticks) => DraftTime += Stopwatch.GetElapsedTime(0, ticks);
    internal void AddVerifyTime(long ticks) => VerifyTime += Stopwatch.GetElapsedTime(0, ticks);
    internal void SetTotalTime(TimeSpan t) => TotalTime = t;

    /// <inheritdoc />
    public override string ToString() =>
        $"steps={Steps} drafted={Drafted} accepted={Accepted} acceptance={AcceptanceRate:P1} mean_accepted={MeanAcceptedLength:F2} " +
        $"tokens={Tokens} tok/s={TokensPerSecond:F1} draft={DraftTime.TotalMilliseconds:F0}ms verify={VerifyTime.TotalMilliseconds:F0}ms other={OtherTime.TotalMilliseconds:F0}ms";
}
