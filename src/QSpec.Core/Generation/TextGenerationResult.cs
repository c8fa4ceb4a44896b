using QSpec.Speculative;

namespace QSpec.Generation;

/// <summary>What a text generation did.</summary>
/// <param name="FinishReason">Why it ended.</param>
/// <param name="PromptTokens">Tokens in the prompt (BOS included).</param>
/// <param name="ReusedPromptTokens">Prompt tokens found in the session's cache and not computed again.</param>
/// <param name="Tokens">The generated ids, a final stop token included.</param>
/// <param name="Text">The generated text as returned (no echo, cut at a stop string).</param>
/// <param name="Statistics">QSpec acceptance and timing, or null for plain decoding.</param>
/// <param name="Elapsed">Wall time from the start to the last token.</param>
public sealed record TextGenerationResult(FinishReason FinishReason, int PromptTokens, int ReusedPromptTokens, IReadOnlyList<int> Tokens,
                                          string Text, SpeculativeStatistics? Statistics, TimeSpan Elapsed);
