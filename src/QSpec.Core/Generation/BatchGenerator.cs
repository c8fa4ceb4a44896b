using System.Diagnostics;
using QSpec.Inference;
using QSpec.Speculative;

namespace QSpec.Generation;

/// <summary>The tokens generated for each prompt of a batch; for speculative decoding also the combined statistics.</summary>
/// <param name="Tokens">Generated ids per prompt, in prompt order.</param>
/// <param name="Statistics">Speculative decoding's statistics (acceptance, timing); null for plain generation.</param>
public sealed record BatchGenerationResult(IReadOnlyList<IReadOnlyList<int>> Tokens, SpeculativeStatistics? Statistics);

/// <summary>
/// Generation for B prompts at once (1 ≤ B ≤ <see cref="MaxBatchSize"/>), each sequence with its own KV cache, sharing
/// one scratch: plain autoregressive decoding (one forward per step with one row per unfinished sequence, the batched
/// baseline) or QSpec speculative decoding (drafts batched across sequences, one verify forward over all of them).
/// </summary>
public static class BatchGenerator
{
    /// <summary>Most prompts in one batch.</summary>
    public const int MaxBatchSize = 32;

    /// <summary>Plain generation: up to <see cref="GenerationOptions.MaxTokens"/> tokens for each prompt (fewer after a
    /// stop token or when that sequence's context is full).</summary>
    /// <exception cref="ArgumentException">An option or a prompt is invalid (checked before any work).</exception>
    public static BatchGenerationResult Generate(LlamaModel model, IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options,
                                                 SessionOptions? sessionOptions = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var mode = options.ResolveMode(model ?? throw new ArgumentNullException(nameof(model)));
        model.EnsureSupports(mode);
        var (checkedPrompts, sessionOpts) = Validate(model, prompts, sessionOptions);
        var stop = options.ResolveStopTokens(model);
        int b = checkedPrompts.Length, v = model.Config.VocabSize;
        return WithCaches(model, sessionOpts, b, Math.Max(b, sessionOpts.MaxBatchRows), (caches, scratch) =>
        {
            var samplers = checkedPrompts.Select((_, i) => new Sampler(options.Sampling.WithSeed(options.Sampling.Seed is int s ? s + i : null))).ToArray();
            bool onBackend = options.Sampling.IsGreedy && !options.Sampling.TransformsLogits;
            var outputs = checkedPrompts.Select(_ => new List<int>()).ToArray();
            var pending = new int[b];
            // Prefill every prompt but its last token; that token is computed by the first decode step.
            for (int i = 0; i < b; i++)
            {
                var prompt = checkedPrompts[i];
                Transformer.ForwardChunked(model, scratch, caches[i], prompt.AsSpan(0, prompt.Length - 1), 0, mode, null);
                pending[i] = prompt[^1];
            }
            var done = new bool[b];
            var row = new float[v];
            var active = new List<int>(b);
            var greedy = new int[b];
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                active.Clear();
                for (int i = 0; i < b; i++) if (!done[i]) active.Add(i);
                if (active.Count == 0) break;
                var tokens = active.Select(i => pending[i]).ToArray();
                var slices = active.Select(i => new SequenceSlice(caches[i], caches[i].Length, 1)).ToArray();
                Transformer.Forward(model, scratch, tokens, slices, mode, null);
                if (onBackend) model.Backend.ArgmaxRows(scratch.Logits, 0, v, greedy.AsSpan(0, active.Count)); // one device wait
                for (int r = 0; r < active.Count; r++)
                {
                    int i = active[r];
                    int next;
                    if (onBackend) next = greedy[r];
                    else { model.Backend.Download(scratch.Logits, row, (long)r * v); next = samplers[i].Sample(row, caches[i].Tokens); }
                    outputs[i].Add(next);
                    pending[i] = next;
                    done[i] = outputs[i].Count >= options.MaxTokens || stop.Contains(next) || caches[i].Length >= caches[i].Capacity;
                }
            }
            return new BatchGenerationResult(outputs.Select(o => (IReadOnlyList<int>)o.ToArray()).ToArray(), null);
        });
    }

    /// <summary>
    /// QSpec speculative decoding: drafts are batched across sequences and the verify pass is one forward over every
    /// sequence's positions. Each sequence accepts independently, so each equals <see cref="SpeculativeDecoder"/> alone.
    /// </summary>
    /// <exception cref="ArgumentException">An option or a prompt is invalid, or the model has no INT4 weights (checked before any work).</exception>
    public static BatchGenerationResult Generate(LlamaModel model, IReadOnlyList<IReadOnlyList<int>> prompts, SpeculativeOptions options,
                                                 SessionOptions? sessionOptions = null, CancellationToken cancellationToken = default)
        => Generate(model, prompts, options, sessionOptions, null, cancellationToken);

    /// <summary>The QSpec batch form, or its synthetic-acceptance benchmark form (<see cref="SyntheticAcceptance"/>).</summary>
    internal static BatchGenerationResult Generate(LlamaModel model, IReadOnlyList<IReadOnlyList<int>> prompts, SpeculativeOptions options,
                                                   SessionOptions? sessionOptions, double? syntheticAcceptance, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        model.EnsureSupports(ExecutionMode.W4A16);
        foreach (var mode in options.DraftModes) model.EnsureSupports(mode);
        var (checkedPrompts, sessionOpts) = Validate(model, prompts, sessionOptions);
        int rows = Math.Max(sessionOpts.MaxBatchRows, checkedPrompts.Length * (options.KMax + 1));
        return WithCaches(model, sessionOpts, checkedPrompts.Length, rows, (caches, scratch) =>
        {
            var engine = new SpeculativeEngine(model, scratch, caches, options, syntheticAcceptance);
            var outputs = checkedPrompts.Select(_ => new List<int>()).ToArray();
            var clock = Stopwatch.StartNew();
            engine.Start(checkedPrompts);
            while (!engine.Finished)
            {
                cancellationToken.ThrowIfCancellationRequested();
                engine.Step(outputs);
                engine.Statistics.SetTotalTime(clock.Elapsed);
            }
            return new BatchGenerationResult(outputs.Select(o => (IReadOnlyList<int>)o.ToArray()).ToArray(), engine.Statistics);
        });
    }

    /// <summary>Checks the batch and every prompt against the context length the caches will have; no allocation.</summary>
    private static (int[][] Prompts, SessionOptions Options) Validate(LlamaModel model, IReadOnlyList<IReadOnlyList<int>> prompts,
                                                                       SessionOptions? sessionOptions)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        model.ThrowIfDisposed();
        if (prompts.Count is < 1 or > MaxBatchSize)
            throw new ArgumentOutOfRangeException(nameof(prompts), prompts.Count, $"The batch size must be in 1..{MaxBatchSize}.");
        var options = sessionOptions ?? new SessionOptions();
        options.Validate();
        int context = options.ResolveContextLength(model.Config.SeqLen);
        var result = new int[prompts.Count][];
        for (int i = 0; i < prompts.Count; i++)
            result[i] = PromptValidation.Validate(prompts[i], context, model.Config, $"prompts[{i}]");
        return (result, options);
    }

    /// <summary>Runs <paramref name="body"/> with B fresh caches and one scratch, all freed afterwards, even when an allocation fails.</summary>
    private static BatchGenerationResult WithCaches(LlamaModel model, SessionOptions options, int count, int scratchRows,
                                                    Func<KvCache[], ForwardScratch, BatchGenerationResult> body)
    {
        int context = options.ResolveContextLength(model.Config.SeqLen);
        var caches = new List<KvCache>(count);
        ForwardScratch? scratch = null;
        try
        {
            for (int i = 0; i < count; i++) caches.Add(new KvCache(model.Backend, model.Config, options.KvPrecision, context));
            scratch = new ForwardScratch(model.Backend, model.Config, scratchRows);
            return body([.. caches], scratch);
        }
        finally
        {
            scratch?.Dispose();
            foreach (var c in caches) c.Dispose();
        }
    }
}
