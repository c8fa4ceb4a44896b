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

    /// <summary>The session whose cache is used (reset at the start of each generation).</summary>
    public InferenceSession Session { get; }

    /// <summary>
    /// Streams generated token ids. The prompt must start with BOS if the model expects it. Validates everything
    /// before any work; cancellation is checked between tokens and leaves the session usable.
    /// </summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Session.ThrowIfDisposed();
        var tokens = PromptValidation.Validate(prompt, options.MaxTokens, Session.ContextLength, Session.Model.Config);
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
        var logits = options.Sampling.IsGreedy ? [] : new float[Session.Model.Config.VocabSize];
        ct.ThrowIfCancellationRequested();
        int generation = Session.BeginGeneration();
        Session.Reset();
        Session.Prefill(prompt, 0, mode);
        for (int i = 0; i < options.MaxTokens; i++)
        {
            int next;
            if (options.Sampling.IsGreedy) next = Session.Argmax();
            else { Session.GetLogits(logits); next = sampler.Sample(logits); }
            yield return next;
            if (options.StopTokens.Contains(next) || i == options.MaxTokens - 1) yield break;
            ct.ThrowIfCancellationRequested();
            Session.EnsureGeneration(generation);
            Session.Prefill([next], Session.Length, mode);
        }
    }
}
