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
        // x = embedding[tokens]                                          [M, D]
        model.Backend.Embedding(model.Embedding, tokens, model.Config.Dim, s.X);
        Layers(model, s, tokens.Length, slices, mode, observer);
        for (int i = 0, row = 0; i < slices.Length; row += slices[i].Count, i++)
        {
            var sl = slices[i];
            sl.Cache.Record(tokens.Slice(row, sl.Count), sl.Start, mode);
            sl.Cache.Length = sl.Start + sl.Count;
        }
    }

    /// <summary>
    /// <see cref="Forward"/> with its M token ids on the device, at <paramref name="offset"/> in <paramref name="ids"/>
    /// (written there by <see cref="IBackend.ArgmaxRowsTo"/>): the next greedy draft runs without the host waiting for
    /// this one. Each cache's Length moves as in Forward; recording the ids is the caller's, once it has them on the host.
    /// </summary>
    public static void ForwardFromDevice(LlamaModel model, ForwardScratch s, DeviceBuffer ids, long offset,
                                         ReadOnlySpan<SequenceSlice> slices, ExecutionMode mode)
    {
        int m = 0;
        foreach (var sl in slices) m += sl.Count;
        // x = embedding[ids]                                             [M, D]
        model.Backend.EmbeddingFrom(model.Embedding, ids, offset, m, model.Config.Dim, s.X);
        Layers(model, s, m, slices, mode, null);
        foreach (var sl in slices) sl.Cache.Length = sl.Start + sl.Count;
    }

    /// <summary>The layers, final norm and classifier over x [M, D] (the embedded tokens in <see cref="ForwardScratch.X"/>); logits [M, V].</summary>
    private static void Layers(LlamaModel model, ForwardScratch s, int m, ReadOnlySpan<SequenceSlice> slices,
                               ExecutionMode mode, ILinearInputObserver? observer)
    {
        var c = model.Config;
        var b = model.Backend;
        int d = c.Dim, h = c.HiddenDim;
        var kv = s.KvSlices(slices.Length); // each sequence's rows and caches, at the current layer

        var kind = KindOf(mode);
        var q = mode is ExecutionMode.W4A4 or ExecutionMode.W4A8 ? s.Quantized : null;

        for (int l = 0; l < c.Layers; l++)
        {
            var w = model.Layers[l];
            // attention block: xb = rmsnorm(x) (quantized in the draft modes); q, k, v = xb·Wqᵀ, xb·Wkᵀ, xb·Wvᵀ in one op
            //                                                              [M, D], [M, KvDim] x2
            Normalize(b, s, s.X, w.AttentionNorm, m, d, c.NormEps, mode, observer, l, "wq", "wk", "wv");
            b.LinearMany(kind, s.Xb, q, [w.Wq, w.Wk, w.Wv], [s.Q, s.K, s.V], m);
            // rotary position embedding on q and k; per sequence: store k, v at their positions, then causal GQA into xb
            //                                                              [M, D]
            for (int i = 0; i < slices.Length; i++)
                kv[i] = new KvSlice(slices[i].Count, slices[i].Start, slices[i].Cache.Keys, slices[i].Cache.Values, slices[i].Cache.LayerOffset(l));
            b.RopeStoreKvAttention(s.Q, s.K, s.V, c.Heads, c.KvHeads, c.HeadSize, c.RopeTheta, kv, s.Xb);
            // output projection with the residual add as epilogue: x += xb·Woᵀ   [M, D]
            Prepare(b, s, s.Xb, m, d, mode, observer, l, "wo");
            b.LinearAdd(kind, s.Xb, q, w.Wo, s.X, s.Xb2, m);
            // feed-forward block: xb = rmsnorm(x); hb = silu(xb·W1ᵀ) ⊙ (xb·W3ᵀ) in one op   [M, H]
            Normalize(b, s, s.X, w.FfnNorm, m, d, c.NormEps, mode, observer, l, "w1", "w3");
            b.LinearSwiGlu(kind, s.Xb, q, w.W1, w.W3, s.Hb, s.Hb2, m);
            // online Hadamard (rotated models: H is folded into W2 offline)  [M, H]
            if (model.FfnHadamardBlock > 0) b.Hadamard(s.Hb, m, h, model.FfnHadamardBlock);
            // down projection with the residual add as epilogue: x += hb·W2ᵀ [M, D]
            Prepare(b, s, s.Hb, m, h, mode, observer, l, "w2");
            b.LinearAdd(kind, s.Hb, q, w.W2, s.X, s.Xb2, m);
        }
        // final norm and classifier: logits = rmsnorm(x)·Wclsᵀ              [M, V]
        Normalize(b, s, s.X, model.FinalNorm, m, d, c.NormEps, mode, observer, -1, "classifier");
        b.Linear(kind, s.Xb, q, model.Classifier, s.Logits, m);
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

    private static LinearKind KindOf(ExecutionMode mode) => mode switch
    {
        ExecutionMode.Fp32 => LinearKind.F32,
        ExecutionMode.W4A16 => LinearKind.W4A16,
        _ => LinearKind.Int,
    };

    /// <summary>Xb = rmsnorm(x), quantized into the scratch in the draft modes (fused when no observer needs the floats first).</summary>
    private static void Normalize(IBackend b, ForwardScratch s, DeviceBuffer x, DeviceBuffer weight, int rows, int dim, float eps,
                                  ExecutionMode mode, ILinearInputObserver? observer, int layer, params ReadOnlySpan<string> names)
    {
        if (observer is null && (mode is ExecutionMode.W4A4 or ExecutionMode.W4A8))
        {
            b.RmsNormQuantize(x, weight, s.Xb, rows, dim, eps, mode == ExecutionMode.W4A4 ? 4 : 8, s.Quantized);
            return;
        }
        b.RmsNorm(x, weight, s.Xb, rows, dim, eps);
        Prepare(b, s, s.Xb, rows, dim, mode, observer, layer, names);
    }

    /// <summary>Shows a linear input to the observer, then quantizes it once for every layer that reads it in the draft modes.</summary>
    /// <param name="layer">The layer of the named linears (names become "layers.{layer}.{name}"), or −1 for top-level names;
    /// the strings are built only for an observer, never on the plain forward path.</param>
    private static void Prepare(IBackend b, ForwardScratch s, DeviceBuffer x, int rows, int columns,
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
    }
}
