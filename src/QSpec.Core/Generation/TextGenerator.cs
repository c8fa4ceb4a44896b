using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using QSpec.Inference;
using QSpec.Speculative;
using QSpec.Tokenization;

namespace QSpec.Generation;

/// <summary>
/// Text in, text out, on one session: encodes the prompt, generates with QSpec or a plain mode, and streams UTF-8-safe
/// text pieces, stopping at stop tokens, stop strings (across token boundaries), MaxTokens or the context end. The
/// session's cache is kept between calls, so a prompt that extends the previous one (a conversation) computes only
/// its new tokens. Not thread-safe: one generation at a time.
/// </summary>
public sealed class TextGenerator
{
    /// <summary>Creates a generator on <paramref name="session"/> with <paramref name="tokenizer"/> (default: the model's).</summary>
    /// <exception cref="ArgumentException">No tokenizer was given and the model has none.</exception>
    public TextGenerator(InferenceSession session, LlamaTextTokenizer? tokenizer = null)
    {
        Session = session ?? throw new ArgumentNullException(nameof(session));
        Tokenizer = tokenizer ?? session.Model.Tokenizer
            ?? throw new ArgumentException("The model has no tokenizer; pass one (LlamaTextTokenizer.Load).", nameof(tokenizer));
        Tokenizer.EnsureVocabularySize(session.Model.Config.VocabSize);
    }

    /// <summary>The session (its cache is reused across calls).</summary>
    public InferenceSession Session { get; }
    /// <summary>The tokenizer.</summary>
    public LlamaTextTokenizer Tokenizer { get; }
    /// <summary>The latest generation's result, set when its stream has been read to the end (null while it runs or after cancellation).</summary>
    public TextGenerationResult? LastResult { get; private set; }

    /// <summary>
    /// Encodes <paramref name="text"/> as a prompt: BOS first when <paramref name="addBos"/>, and control-token texts
    /// of the vocabulary (e.g. <c>&lt;|im_start|&gt;</c>) as their single ids, as chat templates need.
    /// </summary>
    public IReadOnlyList<int> EncodePrompt(string text, bool addBos = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        return SpecialTokens.Of(Tokenizer).Encode(Tokenizer, text, addBos);
    }

    /// <summary>Streams the continuation of <paramref name="prompt"/> as text pieces.</summary>
    public IAsyncEnumerable<string> GenerateTextAsync(string prompt, TextGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new TextGenerationOptions();
        options.Validate();
        return GenerateTextAsync(EncodePrompt(prompt, options.AddBos), options, options.Echo ? prompt : null, cancellationToken);
    }

    /// <summary>Streams the continuation of the token prompt <paramref name="prompt"/> as text pieces (echo prints the decoded prompt).</summary>
    public IAsyncEnumerable<string> GenerateTextAsync(IReadOnlyList<int> prompt, TextGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new TextGenerationOptions();
        options.Validate();
        return GenerateTextAsync(prompt, options, options.Echo ? Tokenizer.Decode(prompt) : null, cancellationToken);
    }

    /// <summary>Generates the whole continuation of <paramref name="prompt"/>.</summary>
    public string GenerateText(string prompt, TextGenerationOptions? options = null, CancellationToken cancellationToken = default)
        => GenerateTextAsync(prompt, options, cancellationToken).ToBlockingString();

    private IAsyncEnumerable<string> GenerateTextAsync(IReadOnlyList<int> prompt, TextGenerationOptions options, string? echo, CancellationToken ct)
    {
        var model = Session.Model;
        var stop = options.StopTokens ?? EndOfGeneration.Ids(model);
        // Validate everything (mode, prompt length, ids) before the stream starts.
        IEnumerable<int> source;
        Func<(FinishReason, int, SpeculativeStatistics?)> outcome;
        if (options.IsSpeculative(model))
        {
            var defaults = new SpeculativeOptions();
            var decoder = new SpeculativeDecoder(Session, new SpeculativeOptions
            {
                DraftLength = options.DraftLength ?? defaults.DraftLength, AutoDraftLength = options.DraftLength is null,
                DraftMode = options.DraftMode ?? defaults.DraftMode, AutoDraftMode = options.DraftMode is null,
                MaxTokens = options.MaxTokens, Sampling = options.Sampling, StopTokens = stop,
            });
            source = decoder.Generate(prompt, ct);
            outcome = () => (decoder.FinishReason, decoder.ReusedPromptTokens, decoder.Statistics);
        }
        else
        {
            var generator = new Generator(Session);
            source = generator.Generate(prompt, new GenerationOptions
            {
                MaxTokens = options.MaxTokens, Sampling = options.Sampling, StopTokens = stop, Mode = options.Mode ?? ExecutionMode.Fp32,
            }, ct);
            outcome = () => (generator.FinishReason, generator.ReusedPromptTokens, null);
        }
        return Stream(prompt, source, outcome, stop, options, echo, ct);
    }

    private async IAsyncEnumerable<string> Stream(IReadOnlyList<int> prompt, IEnumerable<int> source, Func<(FinishReason, int, SpeculativeStatistics?)> outcome,
                                                  IReadOnlyCollection<int> stop, TextGenerationOptions options, string? echo,
                                                  [EnumeratorCancellation] CancellationToken ct)
    {
        LastResult = null;
        var clock = Stopwatch.StartNew();
        if (!string.IsNullOrEmpty(echo)) yield return echo;
        var text = Tokenizer.CreateStreamingDecoder();
        foreach (int id in prompt) text.Append(id); // spacing and pending bytes continue from the prompt
        var matcher = new StopStringMatcher(options.StopStrings);
        var generated = new List<int>();
        var output = new StringBuilder();
        bool stoppedByToken = false;
        using (var e = source.GetEnumerator())
        {
            while (!matcher.Stopped && await Task.Run(e.MoveNext, ct).ConfigureAwait(false))
            {
                int id = e.Current;
                generated.Add(id);
                if (stop.Contains(id)) { stoppedByToken = true; break; }
                var piece = matcher.Push(text.Append(id));
                if (piece.Length > 0) { output.Append(piece); yield return piece; }
            }
        }
        var tail = matcher.Push(text.Flush()) + matcher.Flush();
        if (tail.Length > 0) { output.Append(tail); yield return tail; }
        var (finish, reused, statistics) = outcome();
        if (matcher.Stopped) finish = FinishReason.StopString;
        else if (stoppedByToken) finish = FinishReason.StopToken;
        LastResult = new TextGenerationResult(finish, prompt.Count, reused, generated.ToArray(), output.ToString(), statistics, clock.Elapsed);
    }
}

/// <summary>Helpers for text streams.</summary>
public static class TextStreamExtensions
{
    /// <summary>Concatenates an asynchronous text stream, blocking the caller.</summary>
    public static string ToBlockingString(this IAsyncEnumerable<string> pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        return Task.Run(async () =>
        {
            var sb = new StringBuilder();
            await foreach (var p in pieces.ConfigureAwait(false)) sb.Append(p);
            return sb.ToString();
        }).GetAwaiter().GetResult();
    }
}
