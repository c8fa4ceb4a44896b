namespace QSpec.Chat;

/// <summary>
/// The chat prompt formats QSpec renders natively, named as llama.cpp names them (<c>llama_chat_apply_template</c>).
/// A model's Jinja template is mapped to one of them by <see cref="ChatFormat.FromTemplate"/>; the rendering is
/// llama.cpp's, string for string (the tests check each family against llama.cpp's output).
/// </summary>
public enum ChatTemplateFamily
{
    /// <summary>No chat format: the messages' text joined in order (for base models without a template).</summary>
    Plain,
    /// <summary><c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c> (Qwen, SmolLM, many fine-tunes).</summary>
    ChatMl,
    /// <summary>Llama 2 <c>[INST] … [/INST]</c> without a system block (the system text prefixes the first user turn).</summary>
    Llama2,
    /// <summary>Llama 2 with a <c>&lt;&lt;SYS&gt;&gt;</c> block.</summary>
    Llama2Sys,
    /// <summary>Llama 2 with a system block and <c>&lt;s&gt;</c> before every later turn.</summary>
    Llama2SysBos,
    /// <summary>Llama 2 with a system block and every message trimmed.</summary>
    Llama2SysStrip,
    /// <summary>Llama 3 <c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\ncontent&lt;|eot_id|&gt;</c>, content trimmed.</summary>
    Llama3,
    /// <summary>Zephyr <c>&lt;|role|&gt;\ncontent&lt;|endoftext|&gt;\n</c>.</summary>
    Zephyr,
    /// <summary>Mistral v1 (<c> [INST] … [/INST]</c>, spaces around the markers).</summary>
    MistralV1,
    /// <summary>Mistral v3 (assistant text trimmed).</summary>
    MistralV3,
    /// <summary>Mistral v3 tekken (no space after <c>[INST]</c>).</summary>
    MistralV3Tekken,
    /// <summary>Mistral v7 (<c>[SYSTEM_PROMPT] … [/SYSTEM_PROMPT]</c>).</summary>
    MistralV7,
    /// <summary>Gemma <c>&lt;start_of_turn&gt;user\n…&lt;end_of_turn&gt;\n</c>, assistant as <c>model</c>, system merged into the first user turn.</summary>
    Gemma,
    /// <summary>Phi-3 <c>&lt;|role|&gt;\ncontent&lt;|end|&gt;\n</c>.</summary>
    Phi3,
}
