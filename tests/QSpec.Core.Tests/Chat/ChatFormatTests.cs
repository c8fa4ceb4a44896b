using Microsoft.Extensions.AI;
using QSpec.Chat;

namespace QSpec.Core.Tests.Chat;

/// <summary>
/// Each built-in chat family against llama.cpp. The expected strings are llama.cpp's own output: llama_chat_apply_template
/// of the prebuilt libllama.so in /work/shared/tools/llama.cpp (commit c392e50), called through ctypes with the same
/// messages; the detection cases are template snippets that llama.cpp maps to that family (phi-4, Vicuna and Falcon 3
/// to families QSpec does not render, hence Plain).
/// </summary>
public class ChatFormatTests
{
    private static readonly ChatMessage[] s_clean =
        [new(ChatRole.System, "You are a helpful assistant."), new(ChatRole.User, "Hello"), new(ChatRole.Assistant, "Hi there"), new(ChatRole.User, "Who are you?")];
    private static readonly ChatMessage[] s_spaced =
        [new(ChatRole.System, " Be brief. "), new(ChatRole.User, " Hi "), new(ChatRole.Assistant, " Yo "), new(ChatRole.User, "Why?")];

    [Theory]
        [InlineData(ChatTemplateFamily.ChatMl, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n")]
        [InlineData(ChatTemplateFamily.Llama2, "[INST] You are a helpful assistant.\nHello [/INST]Hi there</s>[INST] Who are you? [/INST]")]
        [InlineData(ChatTemplateFamily.Llama2Sys, "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you? [/INST]")]
        [InlineData(ChatTemplateFamily.Llama2SysBos, "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] Who are you? [/INST]")]
        [InlineData(ChatTemplateFamily.Llama2SysStrip, "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you? [/INST]")]
        [InlineData(ChatTemplateFamily.Llama3, "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")]
        [InlineData(ChatTemplateFamily.Zephyr, "<|system|>\nYou are a helpful assistant.<|endoftext|>\n<|user|>\nHello<|endoftext|>\n<|assistant|>\nHi there<|endoftext|>\n<|user|>\nWho are you?<|endoftext|>\n<|assistant|>\n")]
        [InlineData(ChatTemplateFamily.MistralV1, " [INST] You are a helpful assistant.\n\nHello [/INST] Hi there</s> [INST] Who are you? [/INST]")]
        [InlineData(ChatTemplateFamily.MistralV3, "[INST] You are a helpful assistant.\n\nHello[/INST] Hi there</s>[INST] Who are you?[/INST]")]
        [InlineData(ChatTemplateFamily.MistralV3Tekken, "[INST]You are a helpful assistant.\n\nHello[/INST]Hi there</s>[INST]Who are you?[/INST]")]
        [InlineData(ChatTemplateFamily.MistralV7, "[SYSTEM_PROMPT] You are a helpful assistant.[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>[INST] Who are you?[/INST]")]
        [InlineData(ChatTemplateFamily.Gemma, "<start_of_turn>user\nYou are a helpful assistant.\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are you?<end_of_turn>\n<start_of_turn>model\n")]
        [InlineData(ChatTemplateFamily.Phi3, "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you?<|end|>\n<|assistant|>\n")]
    public void RendersAConversationWithASystemMessageAsLlamaCppDoes(ChatTemplateFamily family, string expected)
        => Assert.Equal(expected, ChatFormat.For(family).Render(s_clean, addAssistantPrompt: true));

    [Theory]
        [InlineData(ChatTemplateFamily.ChatMl, "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n")]
        [InlineData(ChatTemplateFamily.Llama2, "[INST] Hello [/INST]Hi there</s>[INST] Who are you? [/INST]")]
        [InlineData(ChatTemplateFamily.Llama2Sys, "[INST] Hello [/INST]Hi there</s>[INST] Who are you? [/INST]")]
        [InlineData(ChatTemplateFamily.Llama2SysBos, "[INST] Hello [/INST]Hi there</s><s>[INST] Who are you? [/INST]")]
        [InlineData(ChatTemplateFamily.Llama2SysStrip, "[INST] Hello [/INST]Hi there</s>[INST] Who are you? [/INST]")]
        [InlineData(ChatTemplateFamily.Llama3, "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")]
        [InlineData(ChatTemplateFamily.Zephyr, "<|user|>\nHello<|endoftext|>\n<|assistant|>\nHi there<|endoftext|>\n<|user|>\nWho are you?<|endoftext|>\n<|assistant|>\n")]
        [InlineData(ChatTemplateFamily.MistralV1, " [INST] Hello [/INST] Hi there</s> [INST] Who are you? [/INST]")]
        [InlineData(ChatTemplateFamily.MistralV3, "[INST] Hello[/INST] Hi there</s>[INST] Who are you?[/INST]")]
        [InlineData(ChatTemplateFamily.MistralV3Tekken, "[INST]Hello[/INST]Hi there</s>[INST]Who are you?[/INST]")]
        [InlineData(ChatTemplateFamily.MistralV7, "[INST] Hello[/INST] Hi there</s>[INST] Who are you?[/INST]")]
        [InlineData(ChatTemplateFamily.Gemma, "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are you?<end_of_turn>\n<start_of_turn>model\n")]
        [InlineData(ChatTemplateFamily.Phi3, "<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you?<|end|>\n<|assistant|>\n")]
    public void RendersAConversationWithoutASystemMessageAsLlamaCppDoes(ChatTemplateFamily family, string expected)
        => Assert.Equal(expected, ChatFormat.For(family).Render(s_clean[1..], addAssistantPrompt: true));

    [Theory]
        [InlineData(ChatTemplateFamily.ChatMl, "<|im_start|>system\n Be brief. <|im_end|>\n<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\n Yo <|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n")]
        [InlineData(ChatTemplateFamily.Llama2, "[INST]  Be brief. \n Hi  [/INST] Yo </s>[INST] Why? [/INST]")]
        [InlineData(ChatTemplateFamily.Llama2Sys, "[INST] <<SYS>>\n Be brief. \n<</SYS>>\n\n Hi  [/INST] Yo </s>[INST] Why? [/INST]")]
        [InlineData(ChatTemplateFamily.Llama2SysBos, "[INST] <<SYS>>\n Be brief. \n<</SYS>>\n\n Hi  [/INST] Yo </s><s>[INST] Why? [/INST]")]
        [InlineData(ChatTemplateFamily.Llama2SysStrip, "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Yo</s>[INST] Why? [/INST]")]
        [InlineData(ChatTemplateFamily.Llama3, "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nYo<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")]
        [InlineData(ChatTemplateFamily.Zephyr, "<|system|>\n Be brief. <|endoftext|>\n<|user|>\n Hi <|endoftext|>\n<|assistant|>\n Yo <|endoftext|>\n<|user|>\nWhy?<|endoftext|>\n<|assistant|>\n")]
        [InlineData(ChatTemplateFamily.MistralV1, " [INST]  Be brief. \n\n Hi  [/INST]  Yo </s> [INST] Why? [/INST]")]
        [InlineData(ChatTemplateFamily.MistralV3, "[INST]  Be brief. \n\n Hi [/INST] Yo</s>[INST] Why?[/INST]")]
        [InlineData(ChatTemplateFamily.MistralV3Tekken, "[INST] Be brief. \n\n Hi [/INST] Yo </s>[INST]Why?[/INST]")]
        [InlineData(ChatTemplateFamily.MistralV7, "[SYSTEM_PROMPT]  Be brief. [/SYSTEM_PROMPT][INST]  Hi [/INST]  Yo </s>[INST] Why?[/INST]")]
        [InlineData(ChatTemplateFamily.Gemma, "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nYo<end_of_turn>\n<start_of_turn>user\nWhy?<end_of_turn>\n<start_of_turn>model\n")]
        [InlineData(ChatTemplateFamily.Phi3, "<|system|>\n Be brief. <|end|>\n<|user|>\n Hi <|end|>\n<|assistant|>\n Yo <|end|>\n<|user|>\nWhy?<|end|>\n<|assistant|>\n")]
    public void TrimsAndSpacesAsLlamaCppDoes(ChatTemplateFamily family, string expected)
        => Assert.Equal(expected, ChatFormat.For(family).Render(s_spaced, addAssistantPrompt: true));

    [Theory]
        [InlineData(ChatTemplateFamily.ChatMl, "<|im_start|>system\n Be brief. <|im_end|>\n<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\n Yo <|im_end|>\n")]
        [InlineData(ChatTemplateFamily.Llama2, "[INST]  Be brief. \n Hi  [/INST] Yo </s>")]
        [InlineData(ChatTemplateFamily.Llama2Sys, "[INST] <<SYS>>\n Be brief. \n<</SYS>>\n\n Hi  [/INST] Yo </s>")]
        [InlineData(ChatTemplateFamily.Llama2SysBos, "[INST] <<SYS>>\n Be brief. \n<</SYS>>\n\n Hi  [/INST] Yo </s>")]
        [InlineData(ChatTemplateFamily.Llama2SysStrip, "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Yo</s>")]
        [InlineData(ChatTemplateFamily.Llama3, "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nYo<|eot_id|>")]
        [InlineData(ChatTemplateFamily.Zephyr, "<|system|>\n Be brief. <|endoftext|>\n<|user|>\n Hi <|endoftext|>\n<|assistant|>\n Yo <|endoftext|>\n")]
        [InlineData(ChatTemplateFamily.MistralV1, " [INST]  Be brief. \n\n Hi  [/INST]  Yo </s>")]
        [InlineData(ChatTemplateFamily.MistralV3, "[INST]  Be brief. \n\n Hi [/INST] Yo</s>")]
        [InlineData(ChatTemplateFamily.MistralV3Tekken, "[INST] Be brief. \n\n Hi [/INST] Yo </s>")]
        [InlineData(ChatTemplateFamily.MistralV7, "[SYSTEM_PROMPT]  Be brief. [/SYSTEM_PROMPT][INST]  Hi [/INST]  Yo </s>")]
        [InlineData(ChatTemplateFamily.Gemma, "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nYo<end_of_turn>\n")]
        [InlineData(ChatTemplateFamily.Phi3, "<|system|>\n Be brief. <|end|>\n<|user|>\n Hi <|end|>\n<|assistant|>\n Yo <|end|>\n")]
    public void RendersWithoutTheAssistantPromptAsLlamaCppDoes(ChatTemplateFamily family, string expected)
        => Assert.Equal(expected, ChatFormat.For(family).Render(s_spaced[..3], addAssistantPrompt: false));

    [Theory]
        [InlineData("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}", ChatTemplateFamily.ChatMl)]
        [InlineData("{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}", ChatTemplateFamily.Llama2)]
        [InlineData("{% if messages[0]['role'] == 'system' %}{{ '[INST] <<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' }}{% endif %}{% for message in messages %}{% if message['role'] == 'user' %}{{ message['content'] + ' [/INST]' }}{% endif %}{% endfor %}", ChatTemplateFamily.Llama2Sys)]
        [InlineData("{% for message in messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'system' %}{{ '<<SYS>>\\n' + message['content'] + '\\n<</SYS>>\\n\\n' }}{% endif %}{% endfor %}", ChatTemplateFamily.Llama2SysBos)]
        [InlineData("{% for message in messages %}{% set content = message['content'] %}{% if message['role'] == 'system' %}{{ '<<SYS>>\\n' + content.strip() + '\\n<</SYS>>\\n\\n' }}{% else %}{{ '[INST] ' + content.strip() + ' [/INST]' }}{% endif %}{% endfor %}", ChatTemplateFamily.Llama2SysStrip)]
        [InlineData("{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}", ChatTemplateFamily.Llama3)]
        [InlineData("{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + '<|endoftext|>' }}{% else %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|endoftext|>' }}{% endif %}{% endfor %}", ChatTemplateFamily.Zephyr)]
        [InlineData("{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}{%- endif %}{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}", ChatTemplateFamily.MistralV1)]
        [InlineData("{%- if tools is not none %}{{- '[AVAILABLE_TOOLS] [' }}{%- endif %}{{- '[INST] ' + message['content'] + '[/INST]' }}", ChatTemplateFamily.MistralV3)]
        [InlineData("{%- if tools is not none %}{{- '[AVAILABLE_TOOLS][' }}{%- endif %}{{- \"[INST]\" + message['content'] + \"[/INST]\" }}", ChatTemplateFamily.MistralV3Tekken)]
        [InlineData("{%- if message['role'] == 'system' %}{{- '[SYSTEM_PROMPT]' + message['content'] + '[/SYSTEM_PROMPT]' }}{%- elif message['role'] == 'user' %}{{- '[INST]' + message['content'] + '[/INST]' }}{%- endif %}", ChatTemplateFamily.MistralV7)]
        [InlineData("{% for message in messages %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}", ChatTemplateFamily.Gemma)]
        [InlineData("{% for message in messages %}{% if message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}", ChatTemplateFamily.Phi3)]
        [InlineData("{{'<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>'}}", null)]
        [InlineData("{{ 'USER: ' + message['content'] + ' ASSISTANT: ' }}", null)]
        [InlineData("{{ '<|user|>\\n' + message['content'] + '\\n<|assistant|>\\n' + '</s>' }}", null)]
        [InlineData("chatml", ChatTemplateFamily.ChatMl)]
        [InlineData("llama2", ChatTemplateFamily.Llama2)]
        [InlineData("llama2-sys", ChatTemplateFamily.Llama2Sys)]
        [InlineData("llama2-sys-bos", ChatTemplateFamily.Llama2SysBos)]
        [InlineData("llama2-sys-strip", ChatTemplateFamily.Llama2SysStrip)]
        [InlineData("llama3", ChatTemplateFamily.Llama3)]
        [InlineData("zephyr", ChatTemplateFamily.Zephyr)]
        [InlineData("mistral-v1", ChatTemplateFamily.MistralV1)]
        [InlineData("mistral-v3", ChatTemplateFamily.MistralV3)]
        [InlineData("mistral-v3-tekken", ChatTemplateFamily.MistralV3Tekken)]
        [InlineData("mistral-v7", ChatTemplateFamily.MistralV7)]
        [InlineData("gemma", ChatTemplateFamily.Gemma)]
        [InlineData("phi3", ChatTemplateFamily.Phi3)]
    public void RecognisesTheFamilyOfATemplateAsLlamaCppDoes(string template, ChatTemplateFamily? expected)
    {
        Assert.Equal(expected, ChatFormat.Detect(template));
        Assert.Equal(expected ?? ChatTemplateFamily.Plain, ChatFormat.FromTemplate(template).Family);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("{{ messages }}")]
    public void NoOrAnUnknownTemplateIsThePlainCompletionFormat(string? template)
    {
        var format = ChatFormat.FromTemplate(template);
        Assert.Equal(ChatTemplateFamily.Plain, format.Family);
        Assert.Equal("You are a helpful assistant.\nHelloHi there\nWho are you?", format.Render(s_clean, addAssistantPrompt: true));
        Assert.Empty(format.StopStrings);
    }

    [Fact]
    public void ACustomFormatterIsUsedAsGiven()
    {
        var format = ChatFormat.Create((messages, add) => string.Concat(messages.Select(m => $"{m.Role}: {m.Text}\n")) + (add ? "assistant:" : ""), ["\nuser:"]);
        Assert.Equal("user: Hello\nassistant:", format.Render([s_clean[1]], addAssistantPrompt: true));
        Assert.Equal(["\nuser:"], format.StopStrings);
    }
}
