using QSpec.Generation;
using QSpec.Inference;
using QSpec.Speculative;

namespace QSpec.Cli;

/// <summary>The QSpec options given by --draft-length K|auto and --draft-bits 4|8, shared by generate and bench.</summary>
internal static class DraftOptions
{
    public static SpeculativeOptions Create(string draftLength, int draftBits, int maxTokens, SamplingOptions sampling,
                                            IReadOnlyCollection<int>? stopTokens = null, double? syntheticAcceptance = null)
    {
        bool auto = draftLength.Equals("auto", StringComparison.OrdinalIgnoreCase);
        int k = 0;
        if (!auto && !int.TryParse(draftLength, out k))
            throw new ArgumentException($"--draft-length must be an integer 0..16 or 'auto', got '{draftLength}'.", "--draft-length");
        var draftMode = draftBits switch
        {
            4 => ExecutionMode.W4A4,
            8 => ExecutionMode.W4A8,
            _ => throw new ArgumentException($"--draft-bits must be 4 or 8, got {draftBits}.", "--draft-bits"),
        };
        var options = new SpeculativeOptions
        {
            // In auto mode DraftLength is unused (k ranges over 0..MaxAutoDraftLength); keep it valid.
            DraftLength = auto ? SpeculativeOptions.MaxDraftLength / 2 : k, AutoDraftLength = auto,
            DraftMode = draftMode, MaxTokens = maxTokens, Sampling = sampling, StopTokens = stopTokens ?? [],
            SyntheticAcceptanceRate = syntheticAcceptance,
        };
        options.Validate();
        return options;
    }
}
