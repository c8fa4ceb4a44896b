namespace QSpec.Generation;

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    /// <summary>Still running, or never started.</summary>
    None,
    /// <summary>A stop token was emitted (by default EOS, BOS or the model's end-of-turn token).</summary>
    StopToken,
    /// <summary>A stop string appeared in the text.</summary>
    StopString,
    /// <summary>The requested number of tokens was generated.</summary>
    MaxTokens,
    /// <summary>The KV cache is full: the model's context length was reached.</summary>
    ContextFull,
}
