using QSpec.Model;

namespace QSpec.Generation;

/// <summary>The one check every generation entry point applies to a prompt before doing any work.</summary>
internal static class PromptValidation
{
    /// <summary>
    /// Checks that <paramref name="prompt"/> is non-null, has at least one token, fits in <paramref name="contextLength"/>
    /// (generation then stops when the context is full), and holds only ids of the vocabulary. Returns it as an array.
    /// </summary>
    /// <param name="name">The argument name for messages ("prompt", or "prompts[3]" inside a batch).</param>
    public static int[] Validate(IReadOnlyList<int>? prompt, int contextLength, LlamaConfig config, string name = "prompt")
    {
        if (prompt is null) throw new ArgumentNullException(name, "The prompt is null.");
        if (prompt.Count < 1) throw new ArgumentException("The prompt needs at least one token (BOS).", name);
        if (prompt.Count > contextLength)
            throw new ArgumentException($"The prompt ({prompt.Count} tokens) is longer than the context length ({contextLength}).", name);
        var tokens = prompt.ToArray();
        foreach (int t in tokens)
            if ((uint)t >= (uint)config.VocabSize)
                throw new ArgumentOutOfRangeException(name, t, $"Token id must be in 0..{config.VocabSize - 1}.");
        return tokens;
    }
}
