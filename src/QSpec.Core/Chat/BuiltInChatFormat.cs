using System.Text;
using Microsoft.Extensions.AI;

namespace QSpec.Chat;

/// <summary>
/// The built-in families, rendered as llama.cpp's <c>llm_chat_apply_template</c> renders them (same spaces, same
/// trimming, same markers). "Trim" is C <c>isspace</c> trimming at both ends.
/// </summary>
internal sealed class BuiltInChatFormat(ChatTemplateFamily family) : ChatFormat
{
    private static readonly Dictionary<string, ChatTemplateFamily> s_names = new(StringComparer.Ordinal)
    {
        ["chatml"] = ChatTemplateFamily.ChatMl, ["llama2"] = ChatTemplateFamily.Llama2, ["llama2-sys"] = ChatTemplateFamily.Llama2Sys,
        ["llama2-sys-bos"] = ChatTemplateFamily.Llama2SysBos, ["llama2-sys-strip"] = ChatTemplateFamily.Llama2SysStrip,
        ["llama3"] = ChatTemplateFamily.Llama3, ["zephyr"] = ChatTemplateFamily.Zephyr, ["mistral-v1"] = ChatTemplateFamily.MistralV1,
        ["mistral-v3"] = ChatTemplateFamily.MistralV3, ["mistral-v3-tekken"] = ChatTemplateFamily.MistralV3Tekken,
        ["mistral-v7"] = ChatTemplateFamily.MistralV7, ["gemma"] = ChatTemplateFamily.Gemma, ["phi3"] = ChatTemplateFamily.Phi3,
    };

    public static ChatTemplateFamily? FamilyOfName(string name) => s_names.TryGetValue(name, out var f) ? f : null;

    public override ChatTemplateFamily Family => family;

    public override IReadOnlyList<string> StopStrings => family switch
    {
        ChatTemplateFamily.ChatMl => ["<|im_end|>", "<|im_start|>"],
        ChatTemplateFamily.Llama3 => ["<|eot_id|>", "<|start_header_id|>"],
        ChatTemplateFamily.Zephyr => ["<|endoftext|>", "</s>", "<|user|>"],
        ChatTemplateFamily.Gemma => ["<end_of_turn>", "<start_of_turn>"],
        ChatTemplateFamily.Phi3 => ["<|end|>", "<|user|>", "<|endoftext|>"],
        ChatTemplateFamily.MistralV7 => ["</s>", "[INST]", "[SYSTEM_PROMPT]"],
        _ => ["</s>", "[INST]"], // Llama 2 and Mistral
    };

    public override string Render(IReadOnlyList<ChatMessage> messages, bool addAssistantPrompt)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var sb = new StringBuilder();
        switch (family)
        {
            case ChatTemplateFamily.ChatMl:
                foreach (var m in messages) sb.Append("<|im_start|>").Append(Role(m)).Append('\n').Append(m.Text).Append("<|im_end|>\n");
                if (addAssistantPrompt) sb.Append("<|im_start|>assistant\n");
                break;
            case ChatTemplateFamily.Llama3:
                foreach (var m in messages) sb.Append("<|start_header_id|>").Append(Role(m)).Append("<|end_header_id|>\n\n").Append(Trim(m.Text)).Append("<|eot_id|>");
                if (addAssistantPrompt) sb.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
                break;
            case ChatTemplateFamily.Zephyr or ChatTemplateFamily.Phi3:
                string end = family == ChatTemplateFamily.Zephyr ? "<|endoftext|>\n" : "<|end|>\n";
                foreach (var m in messages) sb.Append("<|").Append(Role(m)).Append("|>\n").Append(m.Text).Append(end);
                if (addAssistantPrompt) sb.Append("<|assistant|>\n");
                break;
            case ChatTemplateFamily.Gemma:
                RenderGemma(sb, messages, addAssistantPrompt);
                break;
            case ChatTemplateFamily.MistralV7:
                foreach (var m in messages)
                {
                    var role = Role(m);
                    if (role == "system") sb.Append("[SYSTEM_PROMPT] ").Append(m.Text).Append("[/SYSTEM_PROMPT]");
                    else if (role == "user") sb.Append("[INST] ").Append(m.Text).Append("[/INST]");
                    else sb.Append(' ').Append(m.Text).Append("</s>");
                }
                break;
            case ChatTemplateFamily.MistralV1 or ChatTemplateFamily.MistralV3 or ChatTemplateFamily.MistralV3Tekken:
                RenderMistral(sb, messages);
                break;
            default:
                RenderLlama2(sb, messages);
                break;
        }
        return sb.ToString();
    }

    /// <summary>Gemma: the system text (trimmed) opens the first user turn followed by a blank line; assistant is "model".</summary>
    private static void RenderGemma(StringBuilder sb, IReadOnlyList<ChatMessage> messages, bool addAssistantPrompt)
    {
        string system = "";
        foreach (var m in messages)
        {
            var role = Role(m);
            if (role == "system") { system = Trim(m.Text); continue; }
            if (role == "assistant") role = "model";
            sb.Append("<start_of_turn>").Append(role).Append('\n');
            if (system.Length > 0 && role != "model") { sb.Append(system).Append("\n\n"); system = ""; }
            sb.Append(Trim(m.Text)).Append("<end_of_turn>\n");
        }
        if (addAssistantPrompt) sb.Append("<start_of_turn>model\n");
    }

    /// <summary>Mistral v1/v3/v3-tekken: one <c>[INST]</c> per turn; system text and a blank line open it.</summary>
    private void RenderMistral(StringBuilder sb, IReadOnlyList<ChatMessage> messages)
    {
        string lead = family == ChatTemplateFamily.MistralV1 ? " " : "";
        string trail = family == ChatTemplateFamily.MistralV3Tekken ? "" : " ";
        bool inTurn = false;
        foreach (var m in messages)
        {
            if (!inTurn) { sb.Append(lead).Append("[INST]").Append(trail); inTurn = true; }
            var role = Role(m);
            if (role == "system") sb.Append(m.Text).Append("\n\n");
            else if (role == "user") sb.Append(m.Text).Append(lead).Append("[/INST]");
            else
            {
                sb.Append(trail).Append(family == ChatTemplateFamily.MistralV3 ? Trim(m.Text) : m.Text).Append("</s>");
                inTurn = false;
            }
        }
    }

    /// <summary>Llama 2: <c>[INST] </c> opens each turn (after the first, with <c>&lt;s&gt;</c> in the BOS variant).</summary>
    private void RenderLlama2(StringBuilder sb, IReadOnlyList<ChatMessage> messages)
    {
        bool systemBlock = family != ChatTemplateFamily.Llama2, bos = family == ChatTemplateFamily.Llama2SysBos, strip = family == ChatTemplateFamily.Llama2SysStrip;
        bool inTurn = true;
        sb.Append("[INST] ");
        foreach (var m in messages)
        {
            var text = strip ? Trim(m.Text) : m.Text;
            if (!inTurn) { sb.Append(bos ? "<s>[INST] " : "[INST] "); inTurn = true; }
            var role = Role(m);
            if (role == "system")
            {
                if (systemBlock) sb.Append("<<SYS>>\n").Append(text).Append("\n<</SYS>>\n\n");
                else sb.Append(text).Append('\n');
            }
            else if (role == "user") sb.Append(text).Append(" [/INST]");
            else { sb.Append(text).Append("</s>"); inTurn = false; }
        }
    }

    private static string Role(ChatMessage m) => m.Role.Value;

    /// <summary>C isspace trimming (space, \t, \n, \v, \f, \r), as llama.cpp's trim().</summary>
    private static string Trim(string s) => s.Trim(' ', '\t', '\n', '\v', '\f', '\r');
}
