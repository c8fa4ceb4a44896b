using System.Diagnostics;
using QSpec.Generation;
using QSpec.Inference;

namespace QSpec.Speculative;

/// <summary>
/// The QSpec loop over B sequences that share one model and one scratch, each with its own KV cache.
/// A step is propose (k draft forwards, all sequences batched), score (one W4A16 forward over every sequence's
/// [t, x_1..x_k]) and accept (per sequence), then each cache is truncated to what was accepted.
/// </summary>
internal sealed class SpeculativeEngine
{
    private readonly LlamaModel _model;
    private readonly ForwardScratch _scratch;
    private readonly SpeculativeOptions _options;
    private readonly Sequence[] _seqs;
    private readonly Sampler _shape;            // applies temperature/top-k/top-p; never draws
    private readonly int _vocab;
    private readonly IReadOnlyCollection<int> _stop;
    private readonly double? _syntheticAcceptance;
    private float[] _row;
    // Per-step buffers (a step on a small model takes ~50 µs: no allocation in it).
    private readonly Sequence[] _active;
    private readonly SequenceSlice[] _slices;
    private readonly int[] _tokens;
    // Greedy without logit transforms: every row's argmax of a forward comes from one ArgmaxRows call (one device
    // wait per forward instead of one per row), into _greedy[row].
    private readonly bool _argmaxRows;
    private readonly int[] _greedy;
    private bool _firstTokens; // Start chose each sequence's first token (its Pending); the next Step emits them

    /// <param name="syntheticAcceptance">
    /// BENCHMARKS ON SYNTHETIC WEIGHTS ONLY (see <see cref="SyntheticAcceptance"/>): when set, each draft token is accepted
    /// with this probability by an independent coin instead of the acceptance rule.
    /// </param>
    public SpeculativeEngine(LlamaModel model, ForwardScratch scratch, IReadOnlyList<KvCache> caches, SpeculativeOptions options,
                             double? syntheticAcceptance = null)
    {
        _model = model; _scratch = scratch; _options = options; _syntheticAcceptance = syntheticAcceptance;
        _vocab = model.Config.VocabSize;
        _row = new float[_vocab];
        _shape = new Sampler(options.Sampling);
        _stop = options.StopTokens ?? EndOfGeneration.Ids(model);
        int seed = options.Sampling.Seed ?? Random.Shared.Next();
        _seqs = caches.Select((c, i) => new Sequence(c, SeededRandom.Create(seed, i), options.KMax, _vocab, !options.Sampling.IsGreedy)).ToArray();
        Controller = DraftControllers.For(model, caches.Count, options);
        _active = new Sequence[_seqs.Length];
        _slices = new SequenceSlice[_seqs.Length];
        _tokens = new int[_seqs.Length * (options.KMax + 1)];
        _greedy = new int[_tokens.Length];
        _argmaxRows = options.Sampling.IsGreedy && !options.Sampling.TransformsLogits;
        if (scratch.MaxRows < caches.Count * (options.KMax + 1))
            throw new ArgumentException($"The session computes at most {scratch.MaxRows} rows per forward; {caches.Count} sequence(s) with k = {options.KMax} need {caches.Count * (options.KMax + 1)}.", nameof(scratch));
    }

    public SpeculativeStatistics Statistics { get; } = new();
    public DraftLengthController? Controller { get; }
    public bool Finished => _seqs.All(s => s.Done);

    /// <summary>Why sequence <paramref name="b"/> ended (<see cref="FinishReason.None"/> while it runs).</summary>
    public FinishReason FinishReasonOf(int b) => _seqs[b].Finish;

    /// <summary>
    /// Makes every prompt cached (W4A16), keeping the longest prefix the cache already holds but the last token (whose
    /// logits the first token needs), and takes each sequence's first token from its prefill's last row: greedy or
    /// sampled from the target, as a plain step would. The first <see cref="Step"/> emits them without a forward.
    /// Returns the prompt tokens reused from the cache, per sequence.
    /// </summary>
    /// <remarks>The first token comes out of the prefill, as in <see cref="Generation.Generator"/>: before, the last prompt
    /// token waited for the first step, which ran it through a forward of its own: one more pass over the weights per
    /// generation (33 forwards for 32 tokens instead of 32; measured 1-1.5 % of a 32-token TinyLlama-shape generation).</remarks>
    public int[] Start(IReadOnlyList<IReadOnlyList<int>> prompts)
    {
        var reused = new int[_seqs.Length];
        for (int b = 0; b < _seqs.Length; b++)
        {
            var s = _seqs[b];
            var prompt = prompts[b] as int[] ?? prompts[b].ToArray();
            int reuse = s.Cache.CommonPrefixLength(prompt.AsSpan(0, prompt.Length - 1), _options.VerifyMode);
            s.Cache.Truncate(reuse);
            int rows = Transformer.ForwardChunked(_model, _scratch, s.Cache, prompt.AsSpan(reuse), reuse, _options.VerifyMode, null);
            reused[b] = reuse;
            s.Pending = FirstToken(s, rows - 1);
            s.Emitted = 0;
            s.Done = false;
            s.Finish = FinishReason.None;
        }
        _firstTokens = true;
        return reused;
    }

    /// <summary>The target's token after the prompt, from logits row <paramref name="row"/> (the prompt's last position).</summary>
    private int FirstToken(Sequence s, int row)
    {
        var history = s.Cache.Tokens[..s.Cache.Length];
        if (_options.Sampling.IsGreedy || _syntheticAcceptance is not null)
            return _argmaxRows ? _model.Backend.Argmax(_scratch.Logits, (long)row * _vocab, _vocab) : TransformedArgmax(row, history);
        _model.Backend.Download(_scratch.Logits, _row, (long)row * _vocab);
        _shape.ComputeProbabilities(_row, s.P[0], history);
        return AcceptanceRule.SampleFrom(s.P[0], s.Random.NextDouble());
    }

    /// <summary>Emits every sequence's first token (chosen by <see cref="Start"/>); no forward.</summary>
    private void EmitFirstTokens(List<int>[] emitted)
    {
        _firstTokens = false;
        for (int b = 0; b < _seqs.Length; b++)
        {
            var s = _seqs[b];
            Emit(s, s.Pending, emitted[b]);
            Statistics.AddTokens(1);
            CheckContext(s);
        }
    }

    /// <summary>One propose/score/accept step; appends each sequence's newly emitted tokens to <paramref name="emitted"/>.</summary>
    public void Step(List<int>[] emitted)
    {
        if (_firstTokens) { EmitFirstTokens(emitted); return; }
        long start = Stopwatch.GetTimestamp();
        DraftChoice choice;
        if (Controller is { } c) lock (c) choice = c.Next();
        else choice = new DraftChoice(_options.DraftMode, _options.DraftLength);
        int k = choice.K;
        int count = 0;
        foreach (var s in _seqs) if (!s.Done) _active[count++] = s;
        var active = _active.AsSpan(0, count);
        foreach (var s in active)
        {
            s.Base = s.Cache.Length;
            int remaining = _options.MaxTokens - s.Emitted;
            s.K = Math.Max(0, Math.Min(k, Math.Min(remaining - 1, s.Cache.Capacity - s.Cache.Length - 1)));
        }
        long t0 = Stopwatch.GetTimestamp();
        int draftForwards = Propose(active, choice.Mode);
        long t1 = Stopwatch.GetTimestamp();
        int rows = Score(active);
        if (_argmaxRows) _model.Backend.ArgmaxRows(_scratch.Logits, 0, _vocab, _greedy.AsSpan(0, rows));
        long t2 = Stopwatch.GetTimestamp();
        Statistics.AddDraftTime(t1 - t0);
        Statistics.AddVerifyTime(t2 - t1);
        int successes = 0, trials = 0;
        for (int b = 0, row = 0; b < _seqs.Length; b++)
        {
            var s = _seqs[b];
            if (s.Done) continue;
            var verdict = Accept(s, row);
            row += s.K + 1;
            // A step is Accepted successes and, when a draft was rejected, one failed trial (geometric acceptance).
            successes += verdict.Accepted;
            trials += verdict.Accepted + (verdict.Accepted < s.K ? 1 : 0);
            Statistics.RecordStep(s.K, verdict.Accepted);
            Commit(s, verdict, emitted[b]);
        }
        if (Controller is { } ctl)
        {
            // Recorded at the k actually run (the end of a generation may cut it), so the times match its rows. The rest
            // of the step is its whole wall time but the drafts: the verify forward, acceptance, truncation and
            // bookkeeping, which a plain step pays too and which rival the forwards on a small model.
            double draftSeconds = draftForwards == 0 ? 0 : Stopwatch.GetElapsedTime(t0, t1).TotalSeconds / draftForwards;
            double restSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds - Stopwatch.GetElapsedTime(t0, t1).TotalSeconds;
            lock (ctl) ctl.Record(choice with { K = draftForwards }, successes, trials, draftSeconds, restSeconds);
        }
    }

    /// <summary>Propose: draft forwards in the draft mode; draft i of each sequence is drawn from q_i (argmax when greedy).</summary>
    private int Propose(ReadOnlySpan<Sequence> active, ExecutionMode draftMode)
    {
        int kMax = 0;
        bool sameK = true;
        foreach (var s in active) { kMax = Math.Max(kMax, s.K); sameK &= s.K == active[0].K; }
        if (_argmaxRows && sameK && kMax > 0) return ProposeOnDevice(active, kMax, draftMode);
        Span<int> tokens = _tokens.AsSpan(0, active.Length);
        var slices = _slices;
        for (int i = 0; i < kMax; i++)
        {
            int m = 0;
            foreach (var s in active)
            {
                if (s.K <= i) continue;
                tokens[m] = i == 0 ? s.Pending : s.Drafts[i - 1];
                slices[m++] = new SequenceSlice(s.Cache, s.Base + i, 1);
            }
            Transformer.Forward(_model, _scratch, tokens[..m], slices.AsSpan(0, m), draftMode, null);
            if (_argmaxRows) _model.Backend.ArgmaxRows(_scratch.Logits, 0, _vocab, _greedy.AsSpan(0, m));
            m = 0;
            foreach (var s in active)
            {
                if (s.K <= i) continue;
                // The context of a transform or a sample: the cache up to this draft's input.
                s.Drafts[i] = _argmaxRows ? _greedy[m++] : Choose(m++, s.Q?[i], s.Random, s.Cache.Tokens);
            }
        }
        return kMax;
    }

    /// <summary>
    /// Greedy propose with the drafts kept on the device: forward i ≥ 1 embeds forward i − 1's argmax where
    /// <see cref="QSpec.Kernels.Backends.IBackend.ArgmaxRowsTo"/> left it, and one download at the end brings all k · m drafts to the host, so
    /// the host waits for the device once per step's drafts instead of once per draft forward. The same forwards on the
    /// same ids as the host loop (every active sequence drafts k, so forward i's rows are the sequences in order).
    /// </summary>
    private int ProposeOnDevice(ReadOnlySpan<Sequence> active, int k, ExecutionMode draftMode)
    {
        int m = active.Length;
        var ids = _scratch.DeviceTokens;
        var slices = _slices.AsSpan(0, m);
        Span<int> tokens = _tokens.AsSpan(0, m);
        for (int i = 0; i < k; i++)
        {
            for (int r = 0; r < m; r++) slices[r] = new SequenceSlice(active[r].Cache, active[r].Base + i, 1);
            if (i == 0)
            {
                for (int r = 0; r < m; r++) tokens[r] = active[r].Pending;
                Transformer.Forward(_model, _scratch, tokens, slices, draftMode, null);
            }
            else Transformer.ForwardFromDevice(_model, _scratch, ids, (long)(i - 1) * m, slices, draftMode);
            // drafts[i] of row r at i · m + r                                [k · m]
            _model.Backend.ArgmaxRowsTo(_scratch.Logits, 0, _vocab, m, ids, (long)i * m);
        }
        var drafts = _greedy.AsSpan(0, k * m);
        _model.Backend.DownloadTokens(ids, 0, drafts);
        for (int r = 0; r < m; r++)
        {
            var s = active[r];
            for (int i = 0; i < k; i++) s.Drafts[i] = drafts[i * m + r];
            // Forwards 1..k−1 ran on drafts 0..k−2 at Base + 1..: recorded now that they are on the host.
            s.Cache.Record(s.Drafts.AsSpan(0, k - 1), s.Base + 1, draftMode);
        }
        return k;
    }

    /// <summary>Score: one W4A16 forward over [t, x_1..x_k] of every active sequence; overwrites the draft K/V slots. Returns its rows.</summary>
    private int Score(ReadOnlySpan<Sequence> active)
    {
        int total = 0;
        foreach (var s in active) total += s.K + 1;
        var tokens = _tokens.AsSpan(0, total);
        var slices = _slices.AsSpan(0, active.Length);
        int r = 0;
        for (int i = 0; i < active.Length; i++)
        {
            var s = active[i];
            tokens[r] = s.Pending;
            s.Drafts.AsSpan(0, s.K).CopyTo(tokens[(r + 1)..]);
            slices[i] = new SequenceSlice(s.Cache, s.Base, s.K + 1);
            r += s.K + 1;
        }
        Transformer.Forward(_model, _scratch, tokens, slices, _options.VerifyMode, null);
        return total;
    }

    /// <summary>Accept: the greedy rule or speculative rejection sampling on this sequence's rows.</summary>
    private Verdict Accept(Sequence s, int row)
    {
        if (_syntheticAcceptance is double rate)
        {
            // Synthetic benchmark: leading coin successes, then the target's argmax at that row (still computed).
            int j = 0;
            while (j < s.K && s.Random.NextDouble() < rate) j++;
            return new Verdict(j, _argmaxRows ? _greedy[row + j] : _model.Backend.Argmax(_scratch.Logits, (long)(row + j) * _vocab, _vocab));
        }
        // Row i predicts the token after position Base + i: its context is the cache up to and including that position.
        if (_options.Sampling.IsGreedy)
        {
            Span<int> target = stackalloc int[s.K + 1];
            for (int i = 0; i <= s.K; i++) target[i] = _argmaxRows ? _greedy[row + i] : TransformedArgmax(row + i, s.Cache.Tokens[..(s.Base + i + 1)]);
            return AcceptanceRule.Greedy(s.Drafts.AsSpan(0, s.K), target);
        }
        for (int i = 0; i <= s.K; i++)
        {
            _model.Backend.Download(_scratch.Logits, _row, (long)(row + i) * _vocab);
            _shape.ComputeProbabilities(_row, s.P[i], s.Cache.Tokens[..(s.Base + i + 1)]);
        }
        return AcceptanceRule.RejectionSample(s.Drafts.AsSpan(0, s.K), s.Q!, s.P, s.Random.NextDouble);
    }

    /// <summary>Commit: keep t and the accepted drafts in the cache, emit them and the target's token.</summary>
    private void Commit(Sequence s, Verdict v, List<int> output)
    {
        s.Cache.Truncate(s.Base + v.Accepted + 1);
        int emittedNow = 0;
        for (int i = 0; i <= v.Accepted && !s.Done; i++)
        {
            Emit(s, i < v.Accepted ? s.Drafts[i] : v.NextToken, output);
            emittedNow++;
        }
        Statistics.AddTokens(emittedNow);
        s.Pending = v.NextToken;
        CheckContext(s);
    }

    /// <summary>Appends <paramref name="token"/> to the sequence's output; ends it at a stop token or at MaxTokens.</summary>
    private void Emit(Sequence s, int token, List<int> output)
    {
        output.Add(token);
        s.Emitted++;
        if (_stop.Contains(token)) s.Finish = FinishReason.StopToken;
        else if (s.Emitted >= _options.MaxTokens) s.Finish = FinishReason.MaxTokens;
        s.Done = s.Finish != FinishReason.None;
    }

    /// <summary>Ends a running sequence whose pending token has no cache slot left.</summary>
    private static void CheckContext(Sequence s)
    {
        if (!s.Done && s.Cache.Length + 1 > s.Cache.Capacity) { s.Done = true; s.Finish = FinishReason.ContextFull; }
    }

    private int Choose(int row, float[]? q, Random random, ReadOnlySpan<int> history)
    {
        if (q is null) return TransformedArgmax(row, history);
        _model.Backend.Download(_scratch.Logits, _row, (long)row * _vocab);
        _shape.ComputeProbabilities(_row, q, history);
        return AcceptanceRule.SampleFrom(q, random.NextDouble());
    }

    /// <summary>
    /// Greedy token of a logits row on the host, after the bias and penalties (greedy without them takes the rows'
    /// argmax from <see cref="_greedy"/>, one ArgmaxRows per forward).
    /// </summary>
    private int TransformedArgmax(int row, ReadOnlySpan<int> history)
    {
        _model.Backend.Download(_scratch.Logits, _row, (long)row * _vocab);
        return Sampler.Argmax(_shape.Transform(_row, history));
    }

    /// <summary>Per-sequence state: at a step's start the cache holds positions 0..Base-1 and <see cref="Pending"/> is the token at Base.</summary>
    private sealed class Sequence(KvCache cache, Random random, int kMax, int vocab, bool sampling)
    {
        public KvCache Cache { get; } = cache;
        public Random Random { get; } = random;
        public int[] Drafts { get; } = new int[Math.Max(1, kMax)];
        public float[][]? Q { get; } = sampling ? Enumerable.Range(0, kMax).Select(_ => new float[vocab]).ToArray() : null;
        public float[][] P { get; } = sampling ? Enumerable.Range(0, kMax + 1).Select(_ => new float[vocab]).ToArray() : [];
        public int Pending { get; set; }
        public int Emitted { get; set; }
        public int K { get; set; }
        public bool Done { get; set; }
        public FinishReason Finish { get; set; }
        public int Base { get; set; }
    }
}
