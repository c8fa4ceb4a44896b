using System.Runtime.CompilerServices;
using QSpec.Inference;

namespace QSpec.Speculative;

/// <summary>
/// One <see cref="DraftLengthController"/> per (model, batch size, candidate modes, k range), kept for the model's
/// lifetime: draft and verify costs are properties of the model on this machine, so a new generation starts from what
/// earlier ones measured instead of paying the bootstrap steps again (which dominate short generations).
/// Callers lock the controller around <see cref="DraftLengthController.Next"/> and <see cref="DraftLengthController.Record"/>.
/// </summary>
internal static class DraftControllers
{
    private static readonly ConditionalWeakTable<LlamaModel, Dictionary<string, DraftLengthController>> s_byModel = new();

    /// <summary>The shared controller for <paramref name="options"/> with <paramref name="sequences"/> sequences, or null without auto choice.</summary>
    public static DraftLengthController? For(LlamaModel model, int sequences, SpeculativeOptions options)
    {
        if (!options.AutoDraftLength && !options.AutoDraftMode) return null;
        int max = options.AutoDraftLength ? options.MaxAutoDraftLength : Math.Max(1, options.DraftLength);
        int? fixedLength = options.AutoDraftLength ? null : options.DraftLength;
        string key = $"{sequences}|{max}|{fixedLength}|{string.Join(",", options.DraftModes)}";
        var table = s_byModel.GetValue(model, _ => []);
        lock (table)
        {
            if (!table.TryGetValue(key, out var c)) table[key] = c = new DraftLengthController(max, options.DraftModes, fixedLength);
            return c;
        }
    }
}
