using QSpec.Kernels.Backends;

namespace QSpec.Inference;

/// <summary>Options for <see cref="LlamaModel.Load(string, ModelLoadOptions?)"/>, <see cref="LlamaModel.LoadAsync"/> and <see cref="LlamaModel.LoadDefault"/>.</summary>
public sealed class ModelLoadOptions
{
    /// <summary>
    /// The backend the model is put on, built for it and disposed with it. Default <see cref="BackendKind.Auto"/>
    /// (CUDA when a CUDA device is present, else the CPU SIMD backend). Ignored when <see cref="BackendInstance"/> is set.
    /// </summary>
    public BackendKind Backend { get; init; } = BackendKind.Auto;

    /// <summary>An existing backend to put the model on; the caller keeps ownership (the model does not dispose it). Default null.</summary>
    public IBackend? BackendInstance { get; init; }

    /// <summary>
    /// A tokenizer file (llama2.c <c>tok*.bin</c> or SentencePiece <c>tokenizer.model</c>) that replaces the model's own.
    /// Default null: the tokenizer inside the model file (GGUF <c>tokenizer.ggml.*</c>, .qspec embedded), else the one in
    /// the folder (Hugging Face <c>tokenizer.model</c>), else a <c>tok*.bin</c> or <c>tokenizer.*</c> file beside it;
    /// <see cref="LlamaModel.Tokenizer"/> is null when there is none.
    /// </summary>
    public string? TokenizerPath { get; init; }

    /// <summary>
    /// Context length (KV cache positions) to use instead of the file's (GGUF <c>llama.context_length</c>, config.json
    /// <c>max_position_embeddings</c>, the llama2.c header's seq_len). Default null: the file's. Range 1..<see cref="Model.LlamaConfig.MaxDimension"/>.
    /// </summary>
    public int? ContextLength { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when an option is out of range.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Backend)) throw new ArgumentOutOfRangeException(nameof(Backend), Backend, "Unknown backend kind.");
        if (ContextLength is int n && (n < 1 || n > Model.LlamaConfig.MaxDimension))
            throw new ArgumentOutOfRangeException(nameof(ContextLength), n, $"ContextLength must be in 1..{Model.LlamaConfig.MaxDimension}.");
        if (TokenizerPath is not null && string.IsNullOrWhiteSpace(TokenizerPath))
            throw new ArgumentException("TokenizerPath is empty; use null for the model's own tokenizer.", nameof(TokenizerPath));
    }
}
