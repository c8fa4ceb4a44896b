using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Tokenization;

namespace QSpec.Chat;

/// <summary>Options for <see cref="QSpecChatClient"/>. Per-request settings come from <c>ChatOptions</c> and override these defaults.</summary>
public sealed class QSpecChatClientOptions
{
    /// <summary>The mode names <see cref="Mode"/> accepts.</summary>
    public static IReadOnlyList<string> Modes { get; } = ["qspec", "w4a16", "w4a8", "w4a4", "fp32"];

    /// <summary>
    /// How tokens are produced: <c>"qspec"</c> (W4A4 or W4A8 drafts verified by W4A16; output equals <c>"w4a16"</c>),
    /// <c>"w4a16"</c>, <c>"w4a8"</c>, <c>"w4a4"</c> (plain decoding on the INT4 weights) or <c>"fp32"</c> (float weights).
    /// Default null: <c>"qspec"</c> for a model with INT4 weights, else <c>"fp32"</c>.
    /// </summary>
    public string? Mode { get; init; }

    /// <summary>QSpec draft tokens per step (0..16). Default null: chosen online from the measured acceptance and costs.</summary>
    public int? DraftLength { get; init; }

    /// <summary>QSpec draft activation bits: 4 (W4A4, the paper's) or 8 (W4A8). Default null: chosen online per step, as the draft length.</summary>
    public int? DraftBits { get; init; }

    /// <summary>The backend a model loaded from a path is put on. Default <see cref="BackendKind.Auto"/>.</summary>
    public BackendKind Backend { get; init; } = BackendKind.Auto;

    /// <summary>Context length for a model loaded from a path. Default null: the file's.</summary>
    public int? ContextLength { get; init; }

    /// <summary>Tokenizer file for a model loaded from a path. Default null: the model's own.</summary>
    public string? TokenizerPath { get; init; }

    /// <summary>Tokenizer for a model that has none (e.g. made with <see cref="LlamaModel.Create(Model.LlamaWeights, IBackend?)"/>). Default null: the model's.</summary>
    public LlamaTextTokenizer? Tokenizer { get; init; }

    /// <summary>The prompt format. Default null: the model's chat template (<see cref="ChatFormat.FromTemplate"/>), plain when it has none.</summary>
    public ChatFormat? Format { get; init; }

    /// <summary>Reply length when <c>ChatOptions.MaxOutputTokens</c> is not set. Default 256.</summary>
    public int MaxOutputTokens { get; init; } = 256;

    /// <summary>Sampling when <c>ChatOptions</c> sets none (its Temperature, TopP, TopK, Seed, FrequencyPenalty and PresencePenalty override these). Default greedy.</summary>
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>Options of the session (KV precision, rows per forward). Default null: <see cref="SessionOptions"/> defaults.</summary>
    public SessionOptions? Session { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> (or a subclass) naming the first invalid option.</summary>
    public void Validate()
    {
        if (Mode is not null && !Modes.Contains(Mode))
            throw new ArgumentOutOfRangeException(nameof(Mode), Mode, $"Mode must be one of {string.Join(", ", Modes)} (or null for the best the model supports).");
        if (DraftLength is int k && (k < 0 || k > Speculative.SpeculativeOptions.MaxDraftLength))
            throw new ArgumentOutOfRangeException(nameof(DraftLength), k, $"DraftLength must be in 0..{Speculative.SpeculativeOptions.MaxDraftLength}.");
        if (DraftBits is int b && b is not (4 or 8)) throw new ArgumentOutOfRangeException(nameof(DraftBits), b, "DraftBits must be 4 or 8.");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxOutputTokens);
        ArgumentNullException.ThrowIfNull(Sampling);
        Sampling.Validate();
        Session?.Validate();
    }

    /// <summary>The mode to run on <paramref name="model"/> (<see cref="Mode"/> or the default), checked against its weights.</summary>
    internal ExecutionMode? ResolveMode(LlamaModel model, out string name)
    {
        name = Mode ?? (model.Supports(ExecutionMode.W4A16) ? "qspec" : "fp32");
        ExecutionMode? mode = name switch
        {
            "qspec" => null, "w4a16" => ExecutionMode.W4A16, "w4a8" => ExecutionMode.W4A8, "w4a4" => ExecutionMode.W4A4, _ => ExecutionMode.Fp32,
        };
        if (!model.Supports(mode ?? ExecutionMode.W4A16))
            throw new ArgumentException(mode == ExecutionMode.Fp32
                ? "Mode \"fp32\" needs float32 weights; this model holds INT4 weights only. Use \"qspec\" or \"w4a16\"."
                : $"Mode \"{name}\" needs INT4 weights; this model is float32. Quantize it first (qspec quantize) or use \"fp32\".", nameof(Mode));
        return mode;
    }
}
