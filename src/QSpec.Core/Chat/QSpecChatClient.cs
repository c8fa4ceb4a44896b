using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;
using QSpec.Generation;
using QSpec.Inference;
using QSpec.Speculative;

namespace QSpec.Chat;

/// <summary>
/// An <see cref="IChatClient"/> over a local Llama model: the conversation is rendered with the model's chat
/// template, generated with QSpec speculative decoding (or a plain mode) and returned as text. One session is kept
/// for the client's lifetime, so each turn computes only the tokens the previous turn did not already cache.
/// Requests are served one at a time (callers may overlap; they queue).
/// </summary>
public sealed class QSpecChatClient : IChatClient
{
    private readonly bool _ownsModel;
    private readonly QSpecChatClientOptions _options;
    private readonly ExecutionMode? _mode;
    private readonly InferenceSession _session;
    private readonly TextGenerator _generator;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ChatClientMetadata _metadata;
    private bool _disposed;

    /// <summary>Loads the model at <paramref name="modelPath"/> (any format <see cref="LlamaModel.Load(string, ModelLoadOptions?)"/> reads); the client owns it.</summary>
    /// <exception cref="FileNotFoundException">The model does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is malformed.</exception>
    /// <exception cref="ArgumentException">An option is invalid, or the mode does not fit the weights.</exception>
    public QSpecChatClient(string modelPath, QSpecChatClientOptions? options = null)
        : this(LoadModel(modelPath, options), options, ownsModel: true, Path.GetFileName(modelPath)) { }

    /// <summary>Chats with <paramref name="model"/>, which the caller keeps and disposes (after this client).</summary>
    /// <exception cref="ArgumentException">An option is invalid, the mode does not fit the weights, or there is no tokenizer.</exception>
    public QSpecChatClient(LlamaModel model, QSpecChatClientOptions? options = null)
        : this(model ?? throw new ArgumentNullException(nameof(model)), options, ownsModel: false, null) { }

    private QSpecChatClient(LlamaModel model, QSpecChatClientOptions? options, bool ownsModel, string? modelId)
    {
        _options = options ?? new QSpecChatClientOptions();
        _ownsModel = ownsModel;
        try
        {
            _options.Validate();
            Model = model;
            _mode = _options.ResolveMode(model, out var modeName);
            ModeName = modeName;
            Format = _options.Format ?? ChatFormat.FromTemplate(model.ChatTemplate);
            _session = model.CreateSession(_options.Session);
            _generator = new TextGenerator(_session, _options.Tokenizer);
            _metadata = new ChatClientMetadata("QSpec.NET", null, modelId ?? "llama");
        }
        catch
        {
            _session?.Dispose();
            if (ownsModel) model.Dispose();
            throw;
        }
    }

    /// <summary>The model.</summary>
    public LlamaModel Model { get; }
    /// <summary>The mode in use: "qspec", "w4a16", "w4a8", "w4a4" or "fp32".</summary>
    public string ModeName { get; }
    /// <summary>The prompt format in use.</summary>
    public ChatFormat Format { get; }
    /// <summary>The latest reply's result (tokens, finish reason, cache reuse, QSpec statistics); null before the first.</summary>
    public TextGenerationResult? LastResult => _generator.LastResult;

    /// <summary>Forgets the cached conversation (the next request computes its whole prompt).</summary>
    public void ResetCache() => _session.Reset();

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        ChatResponseUpdate? last = null;
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            text.Append(update.Text);
            last = update;
        }
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString()))
        {
            ModelId = last?.ModelId, CreatedAt = last?.CreatedAt, FinishReason = last?.FinishReason, ResponseId = last?.ResponseId,
            AdditionalProperties = last?.AdditionalProperties,
        };
        response.Usage = last?.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
        return response;
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
                                                                                [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var conversation = messages.ToList();
        if (!string.IsNullOrEmpty(options?.Instructions)) conversation.Insert(0, new ChatMessage(ChatRole.System, options.Instructions));
        var textOptions = CreateTextOptions(options);
        string responseId = Guid.NewGuid().ToString("N");
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var prompt = _generator.EncodePrompt(Format.Render(conversation, addAssistantPrompt: true), addBos: true);
            await foreach (var piece in _generator.GenerateTextAsync(prompt, textOptions, cancellationToken).ConfigureAwait(false))
                yield return new ChatResponseUpdate(ChatRole.Assistant, piece) { ResponseId = responseId, ModelId = _metadata.DefaultModelId };
            var result = _generator.LastResult!;
            var usage = new UsageDetails
            {
                InputTokenCount = result.PromptTokens, OutputTokenCount = result.Tokens.Count, TotalTokenCount = result.PromptTokens + result.Tokens.Count,
                CachedInputTokenCount = result.ReusedPromptTokens,
            };
            yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(usage)])
            {
                ResponseId = responseId, ModelId = _metadata.DefaultModelId, CreatedAt = DateTimeOffset.UtcNow,
                FinishReason = result.FinishReason is FinishReason.MaxTokens or FinishReason.ContextFull ? ChatFinishReason.Length : ChatFinishReason.Stop,
                AdditionalProperties = Properties(result),
            };
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Returns this client, its <see cref="ChatClientMetadata"/>, the <see cref="LlamaModel"/>, the latest
    /// <see cref="TextGenerationResult"/> or <see cref="SpeculativeStatistics"/>, or the <see cref="ChatFormat"/>; else null.
    /// </summary>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType == typeof(LlamaModel)) return Model;
        if (serviceType == typeof(ChatFormat)) return Format;
        if (serviceType == typeof(TextGenerationResult)) return LastResult;
        if (serviceType == typeof(SpeculativeStatistics)) return LastResult?.Statistics;
        return null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
        _gate.Dispose();
        if (_ownsModel) Model.Dispose();
    }

    private TextGenerationOptions CreateTextOptions(ChatOptions? o)
    {
        var s = _options.Sampling;
        var sampling = o is null ? s : new SamplingOptions
        {
            Temperature = o.Temperature ?? s.Temperature, TopP = o.TopP ?? s.TopP, TopK = o.TopK ?? s.TopK,
            Seed = o.Seed is long seed ? unchecked((int)seed ^ (int)(seed >> 32)) : s.Seed,
            FrequencyPenalty = o.FrequencyPenalty ?? s.FrequencyPenalty, PresencePenalty = o.PresencePenalty ?? s.PresencePenalty,
            MinP = s.MinP, RepetitionPenalty = s.RepetitionPenalty, PenaltyWindow = s.PenaltyWindow, LogitBias = s.LogitBias,
        };
        sampling.Validate();
        if (o?.MaxOutputTokens is int n && n <= 0) throw new ArgumentOutOfRangeException("options", n, "ChatOptions.MaxOutputTokens must be positive.");
        return new TextGenerationOptions
        {
            MaxTokens = o?.MaxOutputTokens ?? _options.MaxOutputTokens,
            Sampling = sampling,
            Mode = _mode,
            DraftLength = _options.DraftLength,
            DraftMode = _options.DraftBits switch { 8 => ExecutionMode.W4A8, 4 => ExecutionMode.W4A4, _ => null },
            StopStrings = [.. Format.StopStrings, .. o?.StopSequences?.Where(x => !string.IsNullOrEmpty(x)) ?? []],
        };
    }

    private AdditionalPropertiesDictionary Properties(TextGenerationResult r)
    {
        var p = new AdditionalPropertiesDictionary
        {
            ["qspec.mode"] = ModeName,
            ["qspec.finish_reason"] = r.FinishReason.ToString(),
            ["qspec.reused_prompt_tokens"] = r.ReusedPromptTokens,
            ["qspec.tokens_per_second"] = r.Elapsed.TotalSeconds > 0 ? r.Tokens.Count / r.Elapsed.TotalSeconds : 0.0,
        };
        if (r.Statistics is { } st)
        {
            p["qspec.acceptance_rate"] = st.AcceptanceRate;
            p["qspec.mean_accepted_length"] = st.MeanAcceptedLength;
            p["qspec.drafted"] = st.Drafted;
            p["qspec.accepted"] = st.Accepted;
            p["qspec.steps"] = st.Steps;
        }
        return p;
    }

    private static LlamaModel LoadModel(string modelPath, QSpecChatClientOptions? options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        options?.Validate();
        return LlamaModel.Load(modelPath, new ModelLoadOptions
        {
            Backend = options?.Backend ?? Kernels.Backends.BackendKind.Auto, ContextLength = options?.ContextLength, TokenizerPath = options?.TokenizerPath,
        });
    }
}
