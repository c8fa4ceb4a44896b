using QSpec.Generation;
using QSpec.Inference;
using QSpec.Speculative;

namespace QSpec.Cli;

/// <summary>The QSpec options given by --draft-length K|auto and --draft-bits 4|8|auto, shared by generate and bench.</summary>
internal static class DraftOptions
{
    /// <summary>The default of both options: k and the draft mode chosen online from measured costs and acceptance.</summary>
    public const string Auto = "auto";

    public static SpeculativeOptions Create(string draftLength, string draftBits, int maxTokens, SamplingOptions sampling,
                                            IReadOnlyCollection<int>? stopTokens = null)
    {
        bool auto = draftLength.Equals("auto", StringComparison.OrdinalIgnoreCase);
        int k = 0;
        if (!auto && !int.TryParse(draftLength, out k))
            throw new ArgumentException($"--draft-length must be an integer 0..16 or 'auto', got '{draftLength}'.", "--draft-length");
        bool autoMode = draftBits.Equals(Auto, StringComparison.OrdinalIgnoreCase);
        var draftMode = autoMode ? ExecutionMode.W4A8 : draftBits.Trim() switch
        {
            "4" => ExecutionMode.W4A4,
            "8" => ExecutionMode.W4A8,
            _ => throw new ArgumentException($"--draft-bits must be 4, 8 or 'auto', got '{draftBits}'.", "--draft-bits"),
        };
        var options = new SpeculativeOptions
        {
            // In auto mode DraftLength is unused (k ranges over 0..MaxAutoDraftLength); keep it valid.
            DraftLength = auto ? SpeculativeOptions.MaxDraftLength / 2 : k, AutoDraftLength = auto,
            DraftMode = draftMode, AutoDraftMode = autoMode, MaxTokens = maxTokens, Sampling = sampling, StopTokens = stopTokens ?? [],
        };
        options.Validate();
        return options;
    }
}
