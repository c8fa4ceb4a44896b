using QSpec.Inference;

namespace QSpec.Generation;

/// <summary>
/// Plain autoregressive generation for B prompts at once: each step is one forward with one row per unfinished
/// sequence, each sequence with its own KV cache. The batched baseline for speculative decoding.
/// </summary>
public static class BatchGenerator
{
    /// <summary>Generates up to <see cref="GenerationOptions.MaxTokens"/> tokens for each of 1..32 prompts.</summary>
    public static IReadOnlyList<IReadOnlyList<int>> Generate(LlamaModel model, IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options,
                                                           SessionOptions? sessionOptions = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        if (prompts.Count is < 1 or > 32) throw new ArgumentOutOfRangeException(nameof(prompts), prompts.Count, "The batch size must be in 1..32.");
        options.Validate();
        var mode = options.ResolveMode(model);
        model.EnsureSupports(mode);
        var sessionOpts = sessionOptions ?? new SessionOptions();
        sessionOpts.Validate();
        foreach (var p in prompts) options.EnsureFits(p.Count, model.Config.SeqLen);
        var stop = options.ResolveStopTokens(model);

        int b = prompts.Count, v = model.Config.VocabSize;
        var caches = prompts.Select(_ => new KvCache(model.Backend, model.Config, sessionOpts.KvPrecision)).ToArray();
        using var scratch = new ForwardScratch(model.Backend, model.Config, Math.Max(b, sessionOpts.MaxBatchRows));
        try
        {
            var samplers = prompts.Select((_, i) => new Sampler(options.Sampling.WithSeed(options.Sampling.Seed is int s ? s + i : null))).ToArray();
            bool onBackend = options.Sampling.IsGreedy && !options.Sampling.TransformsLogits;
            var outputs = prompts.Select(_ => new List<int>()).ToArray();
            var pending = new int[b];
            // Prefill every prompt but its last token; that token is computed by the first decode step.
            for (int i = 0; i < b; i++)
            {
                var prompt = prompts[i].ToArray();
                Transformer.ForwardChunked(model, scratch, caches[i], prompt.AsSpan(0, prompt.Length - 1), 0, mode, null);
                pending[i] = prompt[^1];
            }
            var done = new bool[b];
            var row = new float[v];
            var active = new List<int>(b);
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                active.Clear();
                for (int i = 0; i < b; i++) if (!done[i]) active.Add(i);
                if (active.Count == 0) break;
                var tokens = active.Select(i => pending[i]).ToArray();
                var slices = active.Select(i => new SequenceSlice(caches[i], caches[i].Length, 1)).ToArray();
                Transformer.Forward(model, scratch, tokens, slices, mode, null);
                for (int r = 0; r < active.Count; r++)
                {
                    int i = active[r];
                    int next;
                    if (onBackend) next = model.Backend.Argmax(scratch.Logits, (long)r * v, v);
                    else { model.Backend.Download(scratch.Logits, row, (long)r * v); next = samplers[i].Sample(row, caches[i].Tokens); }
                    outputs[i].Add(next);
                    pending[i] = next;
                    done[i] = outputs[i].Count >= options.MaxTokens || stop.Contains(next) || caches[i].Length >= caches[i].Capacity;
                }
            }
            return outputs.Select(o => (IReadOnlyList<int>)o.ToArray()).ToArray();
        }
        finally
        {
            foreach (var c in caches) c.Dispose();
        }
    }
}
