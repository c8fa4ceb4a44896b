using Microsoft.Extensions.AI;

namespace QSpec.Chat;

/// <summary>
/// Turns a conversation into the prompt text a model was trained on. Built-in families come from
/// <see cref="For"/> or from a model's template text (<see cref="FromTemplate"/>); callers can supply their own with
/// <see cref="Create"/>. Immutable and thread-safe.
/// </summary>
public abstract class ChatFormat
{
    /// <summary>The family (<see cref="ChatTemplateFamily.Plain"/> for custom formats too).</summary>
    public virtual ChatTemplateFamily Family => ChatTemplateFamily.Plain;

    /// <summary>
    /// Texts that end an assistant turn (the end-of-turn marker and the next turn's header): generation stops at the
    /// first of them and they are not part of the reply.
    /// </summary>
    public virtual IReadOnlyList<string> StopStrings => [];

    /// <summary>
    /// Renders <paramref name="messages"/> (roles system, user, assistant; other roles print as their name), then,
    /// when <paramref name="addAssistantPrompt"/>, the header of the assistant turn to generate. BOS is not included:
    /// the tokenizer adds it.
    /// </summary>
    public abstract string Render(IReadOnlyList<ChatMessage> messages, bool addAssistantPrompt);

    /// <summary>The built-in format of <paramref name="family"/>.</summary>
    public static ChatFormat For(ChatTemplateFamily family)
    {
        if (!Enum.IsDefined(family)) throw new ArgumentOutOfRangeException(nameof(family), family, "Unknown chat template family.");
        return family == ChatTemplateFamily.Plain ? Plain : new BuiltInChatFormat(family);
    }

    /// <summary>
    /// The plain completion format for models without a template: the messages' text in order, no markers, no stop
    /// strings. A newline goes before each message but the first, except before an assistant message, whose text
    /// continues the previous one directly: it was generated as that continuation, so the next turn's prompt extends
    /// the text the model saw and the session's cache is reused whole.
    /// </summary>
    public static ChatFormat Plain { get; } = Create((messages, _) =>
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < messages.Count; i++)
        {
            if (i > 0 && messages[i].Role != ChatRole.Assistant) sb.Append('\n');
            sb.Append(messages[i].Text);
        }
        return sb.ToString();
    });

    /// <summary>A format that renders with <paramref name="render"/> (messages, addAssistantPrompt) and stops at <paramref name="stopStrings"/>.</summary>
    public static ChatFormat Create(Func<IReadOnlyList<ChatMessage>, bool, string> render, IReadOnlyList<string>? stopStrings = null)
    {
        ArgumentNullException.ThrowIfNull(render);
        return new DelegateChatFormat(render, stopStrings ?? []);
    }

    /// <summary>
    /// The format of a model's chat template: a llama.cpp family name (<c>chatml</c>, <c>llama3</c>, <c>mistral-v7</c>…)
    /// or a Jinja template (GGUF <c>tokenizer.chat_template</c>, tokenizer_config.json <c>chat_template</c>), recognised
    /// by its markers in llama.cpp's order. A null or empty template, or one of another family, gives <see cref="Plain"/>.
    /// </summary>
    public static ChatFormat FromTemplate(string? template) => Detect(template) is { } f ? For(f) : Plain;

    /// <summary>The family <paramref name="template"/> is recognised as, or null when it is empty or of another family.</summary>
    public static ChatTemplateFamily? Detect(string? template)
    {
        if (string.IsNullOrWhiteSpace(template)) return null;
        if (BuiltInChatFormat.FamilyOfName(template.Trim()) is { } named) return named;
        bool Has(string s) => template.Contains(s, StringComparison.Ordinal);
        if (Has("<|im_start|>")) return Has("<|im_sep|>") || Has("<end_of_utterance>") ? null : ChatTemplateFamily.ChatMl; // phi-4, SmolVLM
        if (template.StartsWith("mistral", StringComparison.Ordinal) || Has("[INST]"))
        {
            if (Has("[SYSTEM_PROMPT]")) return ChatTemplateFamily.MistralV7;
            if (Has("' [INST] ' + system_message") || Has("[AVAILABLE_TOOLS]"))
                return Has(" [INST]") ? ChatTemplateFamily.MistralV1 : Has("\"[INST]\"") ? ChatTemplateFamily.MistralV3Tekken : ChatTemplateFamily.MistralV3;
            return Has("content.strip()") ? ChatTemplateFamily.Llama2SysStrip
                : Has("bos_token + '[INST]") ? ChatTemplateFamily.Llama2SysBos
                : Has("<<SYS>>") ? ChatTemplateFamily.Llama2Sys
                : ChatTemplateFamily.Llama2;
        }
        if (Has("<|assistant|>") && Has("<|end|>")) return ChatTemplateFamily.Phi3;
        // Families llama.cpp checks before the next ones (ChatGLM 4, Falcon 3, GLM-Edge, Monarch): not rendered here.
        if (Has("[gMASK]<sop>") || (Has("<|assistant|>") && Has("<|user|>"))) return null;
        if (Has("<|user|>") && Has("<|endoftext|>")) return ChatTemplateFamily.Zephyr;
        if (Has("bos_token + message['role']")) return null;
        if (Has("<start_of_turn>")) return ChatTemplateFamily.Gemma;
        // Orion, OpenChat, Vicuna, DeepSeek, Command-R come before Llama 3 in llama.cpp's order.
        if (Has("'\\n\\nAssistant: ' + eos_token") || Has("GPT4 Correct ") || (Has("USER: ") && Has("ASSISTANT: "))
            || (Has("### Instruction:") && Has("<|EOT|>")) || (Has("<|START_OF_TURN_TOKEN|>") && Has("<|USER_TOKEN|>"))) return null;
        if (Has("<|start_header_id|>") && Has("<|end_header_id|>")) return ChatTemplateFamily.Llama3;
        return null;
    }

    private sealed class DelegateChatFormat(Func<IReadOnlyList<ChatMessage>, bool, string> render, IReadOnlyList<string> stops) : ChatFormat
    {
        public override IReadOnlyList<string> StopStrings => stops;
        public override string Render(IReadOnlyList<ChatMessage> messages, bool addAssistantPrompt)
        {
            ArgumentNullException.ThrowIfNull(messages);
            return render(messages, addAssistantPrompt);
        }
    }
}
