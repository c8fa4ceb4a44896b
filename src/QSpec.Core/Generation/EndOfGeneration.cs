using QSpec.Inference;
using QSpec.Tokenization;

namespace QSpec.Generation;

/// <summary>
/// The token ids that end a generation by default: EOS, BOS (a llama2.c model starts a new text with BOS) and the
/// end-of-turn markers of the common chat formats, where the vocabulary has them.
/// </summary>
public static class EndOfGeneration
{
    /// <summary>End-of-turn markers, by their text: Llama 3, ChatML, Gemma, Phi-3, Zephyr, Llama 3 base.</summary>
    public static IReadOnlyList<string> EndOfTurnTexts { get; } = ["<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "<|end_of_text|>"];

    /// <summary>The stop ids of <paramref name="tokenizer"/>'s vocabulary.</summary>
    public static IReadOnlyCollection<int> Ids(LlamaTextTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var ids = new HashSet<int> { tokenizer.EosId, tokenizer.BosId };
        var special = SpecialTokens.Of(tokenizer).ByText;
        foreach (var text in EndOfTurnTexts)
            if (special.TryGetValue(text, out int id)) ids.Add(id);
        return ids;
    }

    /// <summary>The stop ids of <paramref name="model"/>'s tokenizer; none when the model has no tokenizer.</summary>
    public static IReadOnlyCollection<int> Ids(LlamaModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Tokenizer is { } tokenizer ? Ids(tokenizer) : [];
    }
}
