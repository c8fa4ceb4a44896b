using System.CommandLine;

namespace QSpec.Cli;

/// <summary>Options shared by the commands that run a model.</summary>
internal sealed class CommonOptions
{
    public Option<string?> Model { get; } = new("--model")
    {
        Description = "Model: a GGUF file, a Hugging Face folder (config.json + safetensors), a .qspec file or a llama2.c checkpoint, recognised by content. Default: the embedded stories260K.",
    };

    public Option<string?> Tokenizer { get; } = new("--tokenizer")
    {
        Description = "Tokenizer: llama2.c tok*.bin or SentencePiece tokenizer.model. Default: the model's own (GGUF metadata, .qspec embedded, the Hugging Face folder's tokenizer.model), else tok*.bin/tokenizer.* beside the model.",
    };

    public Option<int?> Context { get; } = new("--context")
    {
        Description = "Context length (KV cache positions) instead of the model's (GGUF context_length, config.json max_position_embeddings, llama2.c seq_len).",
    };

    public Option<string> Mode { get; } = new("--mode")
    {
        Description = "Execution mode: auto (w4a16 for INT4 weights, else fp32), fp32, w4a16, w4a8 or w4a4 (INT4 modes quantize a float checkpoint with RTN on the fly).",
        DefaultValueFactory = _ => "auto",
    };

    public Option<string> Backend { get; } = new("--backend")
    {
        Description = "Compute backend: auto (CUDA if present, else CPU), cpu (SIMD), cuda, ilgpu-cpu (ILGPU's CPU accelerator; slow, for testing).",
        DefaultValueFactory = _ => "auto",
    };

    public Option<bool> Json { get; } = new("--json") { Description = "Print one JSON object at the end." };

    /// <summary>Adds the options to <paramref name="command"/>; <paramref name="withMode"/> false leaves --mode out (bench has --modes).</summary>
    public void AddTo(Command command, bool withMode = true)
    {
        command.Options.Add(Model);
        command.Options.Add(Tokenizer);
        command.Options.Add(Context);
        if (withMode) command.Options.Add(Mode);
        command.Options.Add(Backend);
        command.Options.Add(Json);
    }
}
