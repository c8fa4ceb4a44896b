using QSpec.Kernels.Formats;
using QSpec.Tokenization;

namespace QSpec.Model.Gguf;

/// <summary>
/// Reads a GGUF file of architecture <c>llama</c> into <see cref="LlamaWeights"/>, with its SPM tokenizer and chat template.
/// </summary>
/// <remarks>
/// <para><b>Hyperparameters</b> from <c>llama.*</c> metadata: embedding_length, feed_forward_length, block_count,
/// attention.head_count, attention.head_count_kv (default head_count), context_length, attention.layer_norm_rms_epsilon,
/// rope.freq_base (default 10000), rope.dimension_count (must be the head size); the vocabulary size is token_embd's.</para>
/// <para><b>Tensors.</b> token_embd, output_norm, output (absent = tied to token_embd), blk.N.{attn_norm, attn_q, attn_k,
/// attn_v, attn_output, ffn_norm, ffn_gate, ffn_down, ffn_up}. llama.cpp's llama graph uses interleaved RoPE pairs
/// (2i, 2i + 1), as this library does, and its converters store attn_q/attn_k in that order (convert_hf_to_gguf
/// un-permutes Hugging Face's rotate_half rows; llama2.c's converter copies them as they are), so no permutation is
/// applied.</para>
/// <para><b>Types.</b> Q4_0 matrices become G = 32 <see cref="Int4Matrix"/> without loss. F32, F16, BF16 and Q8_0 become
/// float32. When a file mixes them (llama.cpp keeps some tensors in F32 or Q8_0 in a "Q4_0" file), the float matrices
/// become G = 32 INT4 on load so that the INT4 modes run: exactly when their values already are INT4 values (what
/// <see cref="GgufExport"/> writes for rows that Q4_0 cannot hold, see <see cref="Int4Recovery"/>), else by RTN. The
/// token embedding stays float32 (dequantized exactly from Q4_0). Other types (k-quants, i-quants, Q4_1, Q5_*) are rejected with a message naming the tensor.</para>
/// </remarks>
internal static class GgufModelReader
{
    /// <summary>Method recorded in <see cref="QuantizationInfo"/> for INT4 weights taken from a GGUF file.</summary>
    public const string QuantizationMethodName = "gguf-q4_0";

    public static ModelFileContents Read(string path, bool readTokenizer, Action<double>? progress, CancellationToken cancellationToken)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var h = GgufHeader.Read(s, path);
        var arch = h.Metadata.GetValueOrDefault("general.architecture") as string
            ?? throw h.Bad("general.architecture", "is missing or not a string");
        if (arch != "llama") throw h.Bad("general.architecture", $"architecture '{arch}' is not supported: only llama");
        var config = ReadConfig(h);

        var used = new HashSet<string>(StringComparer.Ordinal);
        int total = 3 + 9 * config.Layers, done = 0;
        void Step() { cancellationToken.ThrowIfCancellationRequested(); progress?.Invoke((double)++done / total); }
        GgufTensorInfo Tensor(string name, params long[] dims)
        {
            if (!h.TensorsByName.TryGetValue(name, out var t)) throw h.Bad(name, "tensor is missing");
            if (!t.Dims.SequenceEqual(dims)) throw h.Bad(name + " shape", $"is {t.Shape}, expected [{string.Join(", ", dims)}]");
            used.Add(name);
            return t;
        }
        float[] Floats(string name, params long[] dims) { var f = GgufTensorData.ReadFloats(s, h, Tensor(name, dims)); Step(); return f; }
        LinearWeight Linear(string name, int rows, int cols)
        {
            var t = Tensor(name, cols, rows);
            var w = t.Type == GgufTensorType.Q4_0
                ? new LinearWeight(rows, cols, null, GgufTensorData.ReadQ4_0(s, h, t))
                : LinearWeight.FromDense(GgufTensorData.ReadFloats(s, h, t), rows, cols);
            Step();
            return w;
        }

        int d = config.Dim, kv = config.KvDim, hd = config.HiddenDim, v = config.VocabSize;
        var embedding = Floats("token_embd.weight", d, v);
        var layers = new LayerWeights[config.Layers];
        for (int i = 0; i < config.Layers; i++)
        {
            string p = $"blk.{i}.";
            layers[i] = new LayerWeights(
                Floats(p + "attn_norm.weight", d), Linear(p + "attn_q.weight", d, d), Linear(p + "attn_k.weight", kv, d),
                Linear(p + "attn_v.weight", kv, d), Linear(p + "attn_output.weight", d, d), Floats(p + "ffn_norm.weight", d),
                Linear(p + "ffn_gate.weight", hd, d), Linear(p + "ffn_down.weight", d, hd), Linear(p + "ffn_up.weight", hd, d));
        }
        var finalNorm = Floats("output_norm.weight", d);
        bool tied = !h.TensorsByName.ContainsKey("output.weight");
        LinearWeight classifier;
        if (!tied) classifier = Linear("output.weight", v, d);
        else
        {
            var e = h.TensorsByName["token_embd.weight"];
            classifier = e.Type == GgufTensorType.Q4_0 ? new LinearWeight(v, d, null, GgufTensorData.ReadQ4_0(s, h, e)) : LinearWeight.FromDense(embedding, v, d);
            Step();
        }
        var unused = h.Tensors.Select(t => t.Name).FirstOrDefault(n => !used.Contains(n));
        if (unused is not null) throw h.Bad(unused, "is not a tensor of a llama model this library runs (biases, rope_freqs and experts are not supported)");

        QuantizationInfo? quantization = null;
        var all = layers.SelectMany(l => new[] { l.Wq, l.Wk, l.Wv, l.Wo, l.W1, l.W2, l.W3 }).Append(classifier).ToArray();
        if (all.Any(w => w.Int4 is not null))
        {
            static LinearWeight Q(LinearWeight w) => w.Int4 is not null ? w
                : w.WithInt4(Int4Recovery.TryExact(w.Dense!, w.Rows, w.Columns) ?? Int4Matrix.Quantize(w.Dense!, w.Rows, w.Columns, 32));
            layers = layers.Select(l => l with { Wq = Q(l.Wq), Wk = Q(l.Wk), Wv = Q(l.Wv), Wo = Q(l.Wo), W1 = Q(l.W1), W2 = Q(l.W2), W3 = Q(l.W3) }).ToArray();
            classifier = Q(classifier);
            quantization = new QuantizationInfo(QuantizationMethodName, 32, "none", 0);
        }
        config = config with { SharedClassifier = tied && classifier.Int4 is null };

        LlamaWeights weights;
        try { weights = new LlamaWeights(config, embedding, layers, finalNorm, classifier, quantization); }
        catch (ArgumentException ex) { throw h.Bad(ex.ParamName ?? "tensors", ex.Message); }
        var tokenizer = readTokenizer ? ReadTokenizer(h) : null;
        return new ModelFileContents(weights, tokenizer, h.Metadata.GetValueOrDefault("tokenizer.chat_template") as string, ModelFormat.Gguf);
    }

    private static LlamaConfig ReadConfig(GgufHeader h)
    {
        int Int(string key, int? fallback = null)
        {
            if (!h.Metadata.TryGetValue(key, out var o))
                return fallback ?? throw h.Bad(key, "is missing");
            if (o is not long n) throw h.Bad(key, $"is {Describe(o)}, not an integer");
            if (n < 1 || n > LlamaConfig.MaxDimension) throw h.Bad(key, $"is {n}, out of range 1..{LlamaConfig.MaxDimension}");
            return (int)n;
        }
        float Float(string key, float fallback)
        {
            if (!h.Metadata.TryGetValue(key, out var o)) return fallback;
            if (o is not double x || !double.IsFinite(x) || x <= 0) throw h.Bad(key, $"is {Describe(o)}, not a positive number");
            return (float)x;
        }
        if (h.Metadata.TryGetValue("llama.expert_count", out var experts) && experts is long e && e > 0)
            throw h.Bad("llama.expert_count", $"is {e}: mixture-of-experts models are not supported");
        if (h.Metadata.TryGetValue("llama.rope.scaling.type", out var scaling) && scaling is string st && st != "none")
            throw h.Bad("llama.rope.scaling.type", $"is '{st}': RoPE scaling is not supported");
        if (!h.TensorsByName.TryGetValue("token_embd.weight", out var embd)) throw h.Bad("token_embd.weight", "tensor is missing");
        if (embd.Dims.Length != 2) throw h.Bad("token_embd.weight shape", $"is {embd.Shape}, expected [embedding_length, vocab_size]");
        int dim = Int("llama.embedding_length"), heads = Int("llama.attention.head_count");
        if (embd.Dims[1] > LlamaConfig.MaxDimension) throw h.Bad("token_embd.weight shape", $"has vocabulary {embd.Dims[1]}, above {LlamaConfig.MaxDimension}");
        var config = new LlamaConfig(dim, Int("llama.feed_forward_length"), Int("llama.block_count"), heads,
            Int("llama.attention.head_count_kv", heads), (int)embd.Dims[1], Int("llama.context_length"),
            SharedClassifier: true, RopeTheta: Float("llama.rope.freq_base", 10000f),
            NormEps: Float("llama.attention.layer_norm_rms_epsilon", 1e-5f));
        try { config.Validate(); }
        catch (ArgumentException ex) { throw h.Bad(ex.ParamName ?? "hyperparameters", ex.Message); }
        int rotary = Int("llama.rope.dimension_count", config.HeadSize);
        if (rotary != config.HeadSize) throw h.Bad("llama.rope.dimension_count", $"is {rotary}; partial RoPE is not supported (head size {config.HeadSize})");
        if (h.Metadata.TryGetValue("llama.vocab_size", out var vs) && vs is long vn && vn != config.VocabSize)
            throw h.Bad("llama.vocab_size", $"is {vn}, but token_embd.weight has {config.VocabSize} rows");
        return config;
    }

    /// <summary>The SPM ("llama") tokenizer from <c>tokenizer.ggml.*</c>, or null when the file has none.</summary>
    private static LlamaTextTokenizer? ReadTokenizer(GgufHeader h)
    {
        if (!h.Metadata.TryGetValue("tokenizer.ggml.model", out var model)) return null;
        if (model is not string m) throw h.Bad("tokenizer.ggml.model", $"is {Describe(model)}, not a string");
        if (m != "llama")
            throw h.Bad("tokenizer.ggml.model", $"tokenizer '{m}' is not supported yet (only the SentencePiece 'llama' vocabulary); pass a tokenizer file (TokenizerPath / --tokenizer)");
        var tokens = h.Metadata.GetValueOrDefault("tokenizer.ggml.tokens") as string[] ?? throw h.Bad("tokenizer.ggml.tokens", "is missing or not a string array");
        var scores = h.Metadata.GetValueOrDefault("tokenizer.ggml.scores") as double[] ?? throw h.Bad("tokenizer.ggml.scores", "is missing or not a float array");
        if (scores.Length != tokens.Length) throw h.Bad("tokenizer.ggml.scores", $"has {scores.Length} entries for {tokens.Length} tokens");
        foreach (var (key, expected) in new[] { ("tokenizer.ggml.unknown_token_id", 0L), ("tokenizer.ggml.bos_token_id", 1L), ("tokenizer.ggml.eos_token_id", 2L) })
        {
            if (h.Metadata.TryGetValue(key, out var id) && !(id is long n && n == expected))
                throw h.Bad(key, $"is {Describe(id)}: vocabularies other than the llama2 layout (unknown 0, BOS 1, EOS 2, bytes 3..258) are not supported yet; pass a tokenizer file (TokenizerPath / --tokenizer)");
        }
        try { return LlamaTextTokenizer.FromPieces($"the tokenizer in '{h.Path}'", tokens, scores.Select(x => (float)x).ToArray()); }
        catch (InvalidDataException ex) { throw h.Bad("tokenizer.ggml.tokens", ex.Message); }
    }

    private static string Describe(object? o) => o switch
    {
        null => "missing",
        string s => $"'{s}'",
        Array a => $"an array of {a.Length}",
        _ => Convert.ToString(o, System.Globalization.CultureInfo.InvariantCulture) ?? "?",
    };
}
