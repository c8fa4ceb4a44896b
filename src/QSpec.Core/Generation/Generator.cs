using System.Runtime.CompilerServices;
using QSpec.Inference;

namespace QSpec.Generation;

/// <summary>
/// Plain autoregressive generation on one session: prefill the prompt, then one forward per token. The baseline
/// that speculative decoding must reproduce.
/// </summary>
public sealed class Generator
{
    /// <summary>Creates a generator over <paramref name="session"/>.</summary>
    public Generator(InferenceSession session) => Session = session ?? throw new ArgumentNullException(nameof(session));

    /// <summary>
    /// The session whose cache is used. The cache is kept between generations: a prompt that starts with tokens
    /// already cached (same mode) reuses them and computes only the rest.
    /// </summary>
    public InferenceSession Session { get; }

    /// <summary>Why the latest generation ended (<see cref="FinishReason.None"/> while it runs).</summary>
    public FinishReason FinishReason { get; private set; }

    /// <summary>Prompt tokens of the latest generation that were already in the cache and not computed again.</summary>
    public int ReusedPromptTokens { get; private set; }

    /// <summary>
    /// Streams generated token ids. The prompt must start with BOS if the model expects it. Validates everything
    /// before any work; cancellation is checked between tokens and leaves the session usable. Stops after a stop
    /// token, after <see cref="GenerationOptions.MaxTokens"/>, or when the context is full (see <see cref="FinishReason"/>).
    /// </summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Session.ThrowIfDisposed();
        var tokens = PromptValidation.Validate(prompt, Session.ContextLength, Session.Model.Config);
        var mode = options.ResolveMode(Session.Model);
        Session.Model.EnsureSupports(mode);
        return Iterate(tokens, options, mode, cancellationToken);
    }

    /// <summary>The asynchronous form of <see cref="Generate"/>; each forward runs on the thread pool.</summary>
    public async IAsyncEnumerable<int> GenerateAsync(IReadOnlyList<int> prompt, GenerationOptions options,
                                                     [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var e = Generate(prompt, options, cancellationToken).GetEnumerator();
        while (await Task.Run(e.MoveNext, cancellationToken).ConfigureAwait(false))
            yield return e.Current;
    }

    private IEnumerable<int> Iterate(int[] prompt, GenerationOptions options, ExecutionMode mode, CancellationToken ct)
    {
        var sampler = new Sampler(options.Sampling);
        var stop = options.ResolveStopTokens(Session.Model);
        bool onBackend = options.Sampling.IsGreedy && !options.Sampling.TransformsLogits;
        var logits = onBackend ? [] : new float[Session.Model.Config.VocabSize];
        FinishReason = FinishReason.None;
        ct.ThrowIfCancellationRequested();
        int generation = Session.BeginGeneration();
        ReusedPromptTokens = PrefillReusing(Session, prompt, prompt.Length, mode);
        for (int i = 0; i < options.MaxTokens; i++)
        {
            int next;
            if (onBackend) next = Session.Argmax();
            else { Session.GetLogits(logits); next = sampler.Sample(logits, Session.Cache.Tokens); }
            FinishReason = stop.Contains(next) ? FinishReason.StopToken
                : i == options.MaxTokens - 1 ? FinishReason.MaxTokens
                : Session.Length >= Session.ContextLength ? FinishReason.ContextFull
                : FinishReason.None;
            yield return next;
            if (FinishReason != FinishReason.None) yield break;
            ct.ThrowIfCancellationRequested();
            Session.EnsureGeneration(generation);
            Session.Prefill([next], Session.Length, mode);
        }
    }

    /// <summary>
    /// Makes the cache hold <paramref name="prompt"/>[..<paramref name="count"/>] computed in <paramref name="mode"/>:
    /// keeps the longest cached common prefix, truncates the rest and computes only the new tokens. At least the
    /// last of them is computed, so its logits are available. Returns the number of tokens reused.
    /// </summary>
    internal static int PrefillReusing(InferenceSession session, int[] prompt, int count, ExecutionMode mode)
    {
        var head = prompt.AsSpan(0, count);
        int reuse = Math.Min(session.Cache.CommonPrefixLength(head, mode), count - 1);
        session.Cache.Truncate(reuse);
        session.Prefill(head[reuse..], reuse, mode);
        return reuse;
    }
}
