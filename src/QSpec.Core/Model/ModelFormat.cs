namespace QSpec.Model;

/// <summary>The model file formats <see cref="ModelFiles.Read(string, string?)"/> recognises by content.</summary>
public enum ModelFormat
{
    /// <summary>A llama2.c fp32 checkpoint, legacy version 0 (7-int header) or version 1 ("ak42").</summary>
    Llama2c,
    /// <summary>This library's INT4 .qspec file (safetensors layout with "format": "qspec" metadata).</summary>
    QSpec,
    /// <summary>A GGUF file (llama.cpp, Ollama, LM Studio), versions 2 and 3.</summary>
    Gguf,
    /// <summary>A Hugging Face model folder (config.json with model.safetensors or a sharded index).</summary>
    HuggingFaceFolder,
}

/// <summary>What <see cref="ModelFiles.Read(string, string?)"/> returns: the weights and whatever the file or folder carries besides.</summary>
/// <param name="Weights">The host weights.</param>
/// <param name="Tokenizer">The model's tokenizer (see <see cref="Inference.ModelLoadOptions.TokenizerPath"/>), or null when there is none.</param>
/// <param name="ChatTemplate">The Jinja chat template (GGUF <c>tokenizer.chat_template</c>, tokenizer_config.json <c>chat_template</c>), or null.</param>
/// <param name="Format">The format detected.</param>
public sealed record ModelFileContents(LlamaWeights Weights, Tokenization.LlamaTextTokenizer? Tokenizer, string? ChatTemplate, ModelFormat Format);
