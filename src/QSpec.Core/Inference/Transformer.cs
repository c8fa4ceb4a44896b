using QSpec.Kernels.Backends;

namespace QSpec.Inference;

/// <summary>
/// The Llama forward pass over backend ops. One method, one weight set, four modes: the mode only picks the linear
/// kernel (and, for W4A4/W4A8, the per-token activation quantizer in front of it).
/// </summary>
internal static class Transformer
{
    /// <summary>
    /// Runs tokens [M] (the rows of every slice, in order) through the model, writes their K/V into each slice's cache
    /// at Start .. Start + Count - 1, sets each cache's Length to Start + Count and leaves logits [M, V] in
    /// <see cref="ForwardScratch.Logits"/>.
    /// </summary>
    public static void Forward(LlamaModel model, ForwardScratch s, ReadOnlySpan<int> tokens,
                               ReadOnlySpan<SequenceSlice> slices, ExecutionMode mode, ILinearInputObserver? observer)
    {
        var c = model.Config;
        var b = model.Backend;
        int m = tokens.Length, d = c.Dim, h = c.HiddenDim, kvDim = c.KvDim;
        Span<int> positions = m <= 256 ? stackalloc int[m] : new int[m];
        for (int i = 0, r = 0; i < slices.Length; i++)
            for (int j = 0; j < slices[i].Count; j++) positions[r++] = slices[i].Start + j;

        // x = embedding[tokens]                                          [M, D]
        b.Embedding(model.Embedding, tokens, d, s.X);
        for (int l = 0; l < c.Layers; l++)
        {
            var w = model.Layers[l];
            // attention block: xb = rmsnorm(x); q, k, v = xb·Wqᵀ, xb·Wkᵀ, xb·Wvᵀ  [M, D], [M, KvDim] x2
            b.RmsNorm(s.X, w.AttentionNorm, s.Xb, m, d, c.NormEps);
            var input = Prepare(b, s, s.Xb, m, d, mode, observer, l, "wq", "wk", "wv");
            Linear(b, s, input, w.Wq, s.Q, m, mode);
            Linear(b, s, input, w.Wk, s.K, m, mode);
            Linear(b, s, input, w.Wv, s.V, m, mode);
            // rotary position embedding on q and k
            b.Rope(s.Q, m, c.Heads, c.HeadSize, positions, c.RopeTheta);
            b.Rope(s.K, m, c.KvHeads, c.HeadSize, positions, c.RopeTheta);
            // per sequence: store k, v at their positions, then causal GQA into xb      [M, D]
            for (int i = 0, row = 0; i < slices.Length; row += slices[i].Count, i++)
            {
                var sl = slices[i];
                long off = sl.Cache.LayerOffset(l);
                b.StoreKv(s.K, s.V, row, sl.Count, kvDim, sl.Cache.Keys, sl.Cache.Values, off, sl.Start);
                b.Attention(s.Q, row, sl.Count, c.Heads, c.KvHeads, c.HeadSize, sl.Cache.Keys, sl.Cache.Values, off, sl.Start, s.Xb);
            }
            // output projection and residual: x += xb·Woᵀ                   [M, D]
            Linear(b, s, Prepare(b, s, s.Xb, m, d, mode, observer, l, "wo"), w.Wo, s.Xb2, m, mode);
            b.Add(s.X, s.Xb2, (long)m * d);
            // feed-forward block: hb = silu(xb·W1ᵀ) ⊙ (xb·W3ᵀ)             [M, H]
            b.RmsNorm(s.X, w.FfnNorm, s.Xb, m, d, c.NormEps);
            input = Prepare(b, s, s.Xb, m, d, mode, observer, l, "w1", "w3");
            Linear(b, s, input, w.W1, s.Hb, m, mode);
            Linear(b, s, input, w.W3, s.Hb2, m, mode);
            b.SwiGlu(s.Hb, s.Hb2, (long)m * h);
            // online Hadamard (rotated models: H is folded into W2 offline)  [M, H]
            if (model.FfnHadamardBlock > 0) b.Hadamard(s.Hb, m, h, model.FfnHadamardBlock);
            // down projection and residual: x += hb·W2ᵀ                      [M, D]
            Linear(b, s, Prepare(b, s, s.Hb, m, h, mode, observer, l, "w2"), w.W2, s.Xb2, m, mode);
            b.Add(s.X, s.Xb2, (long)m * d);
        }
        // final norm and classifier: logits = rmsnorm(x)·Wclsᵀ              [M, V]
        b.RmsNorm(s.X, model.FinalNorm, s.Xb, m, d, c.NormEps);
        Linear(b, s, Prepare(b, s, s.Xb, m, d, mode, observer, -1, "classifier"), model.Classifier, s.Logits, m, mode);
        for (int i = 0, row = 0; i < slices.Length; row += slices[i].Count, i++)
        {
            var sl = slices[i];
            sl.Cache.Record(tokens.Slice(row, sl.Count), sl.Start, mode);
            sl.Cache.Length = sl.Start + sl.Count;
        }
    }

    /// <summary>
    /// Runs one sequence's tokens at positions start.. in chunks of at most <see cref="ForwardScratch.MaxRows"/> rows
    /// (batch invariance makes chunking change nothing); <paramref name="onChunk"/> sees (offset, rows) after each chunk,
    /// while that chunk's logits are in the scratch. Returns the rows of the last chunk.
    /// </summary>
    public static int ForwardChunked(LlamaModel model, ForwardScratch s, KvCache cache, ReadOnlySpan<int> tokens, int start,
                                     ExecutionMode mode, ILinearInputObserver? observer, Action<int, int>? onChunk = null)
    {
        int rows = 0;
        for (int offset = 0; offset < tokens.Length; offset += s.MaxRows)
        {
            rows = Math.Min(s.MaxRows, tokens.Length - offset);
            Forward(model, s, tokens.Slice(offset, rows), [new SequenceSlice(cache, start + offset, rows)], mode, observer);
            onChunk?.Invoke(offset, rows);
        }
        return rows;
    }

    /// <summary>A linear layer's input: float rows, quantized once for every layer that reads them in the draft modes.</summary>
    private readonly record struct LinearInput(DeviceBuffer X);

    /// <param name="layer">The layer of the named linears (names become "layers.{layer}.{name}"), or −1 for top-level names;
    /// the strings are built only for an observer, never on the plain forward path.</param>
    private static LinearInput Prepare(IBackend b, ForwardScratch s, DeviceBuffer x, int rows, int columns,
                                       ExecutionMode mode, ILinearInputObserver? observer, int layer, params ReadOnlySpan<string> names)
    {
        if (observer is not null)
        {
            var host = new float[(long)rows * columns];
            b.Download(x, host);
            foreach (var n in names) observer.Observe(layer < 0 ? n : $"layers.{layer}.{n}", host, rows, columns);
        }
        if (mode is ExecutionMode.W4A4 or ExecutionMode.W4A8)
            b.QuantizeActivations(x, rows, columns, mode == ExecutionMode.W4A4 ? 4 : 8, s.Quantized);
        return new LinearInput(x);
    }

    private static void Linear(IBackend b, ForwardScratch s, LinearInput input, DeviceMatrix w, DeviceBuffer y, int rows, ExecutionMode mode)
    {
        switch (mode)
        {
            case ExecutionMode.Fp32: b.LinearF32(input.X, w, y, rows); break;
            case ExecutionMode.W4A16: b.LinearW4A16(input.X, w, y, rows); break;
            default: b.LinearInt(s.Quantized, w, y, rows); break;
        }
    }
}
