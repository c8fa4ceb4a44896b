using System.Diagnostics;
using System.Runtime.CompilerServices;
using QSpec.Generation;
using QSpec.Inference;

namespace QSpec.Speculative;

/// <summary>
/// QSpec speculative decoding over one quantized model and one session: W4A4 (or W4A8) drafts, verified by one
/// W4A16 forward, on the same INT4 weights and the same KV cache. Greedy output equals plain W4A16 decoding token
/// for token; sampled output has the same distribution.
/// </summary>
public sealed class SpeculativeDecoder
{
    /// <summary>
    /// Creates a decoder on <paramref name="session"/>, whose cache it uses and keeps between generations: a prompt
    /// that starts with cached tokens reuses them and computes only the rest.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid, the model has no INT4 weights, or the session cannot hold k + 1 rows.</exception>
    public SpeculativeDecoder(InferenceSession session, SpeculativeOptions options)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(options);
        session.ThrowIfDisposed();
        options.Validate();
        session.Model.EnsureSupports(ExecutionMode.W4A16);
        foreach (var mode in options.DraftModes) session.Model.EnsureSupports(mode);
        if (session.Options.MaxBatchRows < options.KMax + 1)
            throw new ArgumentException($"The session's MaxBatchRows ({session.Options.MaxBatchRows}) must be at least k + 1 = {options.KMax + 1}.", nameof(session));
        Session = session;
        Options = options;
    }

    /// <summary>The session.</summary>
    public InferenceSession Session { get; }
    /// <summary>The options.</summary>
    public SpeculativeOptions Options { get; }
    /// <summary>Statistics of the latest generation (live while it runs).</summary>
    public SpeculativeStatistics Statistics { get; private set; } = new();
    /// <summary>The draft-length controller of the latest generation in auto mode, else null.</summary>
    public DraftLengthController? Controller { get; private set; }
    /// <summary>Why the latest generation ended (<see cref="FinishReason.None"/> while it runs).</summary>
    public FinishReason FinishReason { get; private set; }
    /// <summary>Prompt tokens of the latest generation that were already in the cache and not computed again.</summary>
    public int ReusedPromptTokens { get; private set; }

    /// <summary>
    /// Streams generated token ids as they are accepted. Everything is validated before any work; cancellation is
    /// checked between steps and leaves the session usable.
    /// </summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, CancellationToken cancellationToken = default)
        => Generate(prompt, null, cancellationToken);

    /// <summary><see cref="Generate(IReadOnlyList{int}, CancellationToken)"/>, or its synthetic-acceptance benchmark form.</summary>
    internal IEnumerable<int> Generate(IReadOnlyList<int> prompt, double? syntheticAcceptance, CancellationToken cancellationToken)
    {
        Session.ThrowIfDisposed();
        return Iterate(PromptValidation.Validate(prompt, Session.ContextLength, Session.Model.Config), syntheticAcceptance, cancellationToken);
    }

    /// <summary>The asynchronous form of <see cref="Generate(IReadOnlyList{int}, CancellationToken)"/>; steps run on the thread pool.</summary>
    public async IAsyncEnumerable<int> GenerateAsync(IReadOnlyList<int> prompt, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var e = Generate(prompt, cancellationToken).GetEnumerator();
        while (await Task.Run(e.MoveNext, cancellationToken).ConfigureAwait(false))
            yield return e.Current;
    }

    private IEnumerable<int> Iterate(int[] prompt, double? syntheticAcceptance, CancellationToken ct)
    {
        var engine = new SpeculativeEngine(Session.Model, Session.Scratch, [Session.Cache], Options, syntheticAcceptance);
        Statistics = engine.Statistics;
        Controller = engine.Controller;
        var clock = Stopwatch.StartNew();
        var emitted = new[] { new List<int>() };
        FinishReason = FinishReason.None;
        ct.ThrowIfCancellationRequested();
        int generation = Session.BeginGeneration();
        ReusedPromptTokens = engine.Start([prompt])[0];
        while (!engine.Finished)
        {
            ct.ThrowIfCancellationRequested();
            Session.EnsureGeneration(generation);
            emitted[0].Clear();
            engine.Step(emitted);
            engine.Statistics.SetTotalTime(clock.Elapsed);
            if (engine.Finished) FinishReason = engine.FinishReasonOf(0);
            foreach (int t in emitted[0]) yield return t;
        }
    }
}

