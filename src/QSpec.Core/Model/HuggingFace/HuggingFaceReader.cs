using System.Text.Json;
using QSpec.Tokenization;

namespace QSpec.Model.HuggingFace;

/// <summary>
/// Reads a Hugging Face <c>LlamaForCausalLM</c> folder: config.json, then model.safetensors or the shards named by
/// model.safetensors.index.json (F32, F16 or BF16 tensors), tokenizer.model (SentencePiece, run by
/// Microsoft.ML.Tokenizers), and tokenizer_config.json's chat_template. Given a .safetensors file instead of the folder,
/// that file is the checkpoint and the folder holding it supplies config.json and the tokenizer.
/// </summary>
/// <remarks>
/// <b>RoPE order.</b> Hugging Face's Llama rotates pairs (i, i + head_dim/2) within a head ("rotate_half"); this library,
/// like llama2.c and llama.cpp, rotates pairs (2i, 2i + 1). The HF conversion permutes q_proj and k_proj rows so that
/// both compute the same function: HF row h·hd + j·hd/2 + i holds the original row h·hd + 2i + j (head h, half j,
/// index i). The reader undoes it; v_proj and o_proj need nothing.
/// </remarks>
internal static class HuggingFaceReader
{
    public static ModelFileContents Read(string path, bool readTokenizer, Action<double>? progress, CancellationToken cancellationToken)
    {
        bool isFolder = Directory.Exists(path);
        var folder = isFolder ? path : Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        var configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath)) throw new InvalidDataException($"Hugging Face model '{path}' has no config.json.");
        var (config, tied, bos, eos) = HuggingFaceConfig.Read(configPath);
        Dictionary<string, SafetensorsFile> shards;
        try { shards = isFolder ? OpenShards(folder) : Single(path); }
        catch (InvalidOperationException e) { throw new InvalidDataException($"Invalid safetensors index in '{path}': not valid UTF-8 JSON ({e.Message}).", e); }
        folder = path; // messages name what the caller passed
        var used = new HashSet<string>(StringComparer.Ordinal);
        var streams = new Dictionary<SafetensorsFile, FileStream>();
        try
        {
            int total = 3 + 9 * config.Layers, done = 0;
            float[] Tensor(string name, params long[] shape)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!shards.TryGetValue(name, out var file) || !file.Tensors.TryGetValue(name, out var t))
                    throw new InvalidDataException($"Hugging Face model '{folder}': tensor '{name}' is missing.");
                if (!t.Shape.SequenceEqual(shape))
                    throw SafetensorsFile.Bad(file.Path, name + ".shape", $"is {t.ShapeText}, expected [{string.Join(", ", shape)}]");
                used.Add(name);
                if (!streams.TryGetValue(file, out var s)) streams[file] = s = new FileStream(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
                var data = file.ReadFloats(s, t);
                progress?.Invoke((double)++done / total);
                return data;
            }
            int d = config.Dim, kv = config.KvDim, h = config.HiddenDim, v = config.VocabSize, hs = config.HeadSize;
            LinearWeight L(string name, int rows, int cols) => LinearWeight.FromDense(Tensor(name, rows, cols), rows, cols);
            LinearWeight Rope(string name, int rows, int heads) => LinearWeight.FromDense(FromRotateHalf(Tensor(name, rows, d), heads, hs, d), rows, d);

            var embedding = Tensor("model.embed_tokens.weight", v, d);
            var layers = new LayerWeights[config.Layers];
            for (int i = 0; i < config.Layers; i++)
            {
                string p = $"model.layers.{i}.";
                layers[i] = new LayerWeights(
                    Tensor(p + "input_layernorm.weight", d), Rope(p + "self_attn.q_proj.weight", d, config.Heads),
                    Rope(p + "self_attn.k_proj.weight", kv, config.KvHeads), L(p + "self_attn.v_proj.weight", kv, d),
                    L(p + "self_attn.o_proj.weight", d, d), Tensor(p + "post_attention_layernorm.weight", d),
                    L(p + "mlp.gate_proj.weight", h, d), L(p + "mlp.down_proj.weight", d, h), L(p + "mlp.up_proj.weight", h, d));
            }
            var finalNorm = Tensor("model.norm.weight", d);
            bool hasHead = shards.ContainsKey("lm_head.weight");
            if (!tied && !hasHead) throw new InvalidDataException($"Hugging Face model '{folder}': tensor 'lm_head.weight' is missing and tie_word_embeddings is false.");
            var classifier = hasHead ? L("lm_head.weight", v, d) : LinearWeight.FromDense(embedding, v, d);
            if (!hasHead) progress?.Invoke((double)++done / total);
            var unused = shards.Keys.Where(n => !used.Contains(n) && !n.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)).Order(StringComparer.Ordinal).FirstOrDefault();
            if (unused is not null) throw new InvalidDataException($"Hugging Face model '{folder}': tensor '{unused}' is not part of a llama model this library runs.");

            var weights = new LlamaWeights(config with { SharedClassifier = !hasHead }, embedding, layers, finalNorm, classifier);
            var (tokenizer, template) = ReadTokenizer(isFolder ? path : Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", readTokenizer, bos, eos);
            return new ModelFileContents(weights, tokenizer, template, ModelFormat.HuggingFaceFolder);
        }
        finally
        {
            foreach (var s in streams.Values) s.Dispose();
        }
    }

    /// <summary>HF rotate_half rows [heads·hs, cols] back to interleaved RoPE rows (see the type remarks).</summary>
    internal static float[] FromRotateHalf(float[] hf, int heads, int headSize, int cols)
    {
        var result = new float[hf.Length];
        int half = headSize / 2;
        for (int head = 0; head < heads; head++)
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < half; i++)
                    hf.AsSpan((head * headSize + j * half + i) * cols, cols).CopyTo(result.AsSpan((head * headSize + 2 * i + j) * cols, cols));
        return result;
    }

    /// <summary>Interleaved RoPE rows to HF rotate_half rows: the inverse of <see cref="FromRotateHalf"/>.</summary>
    internal static float[] ToRotateHalf(float[] interleaved, int heads, int headSize, int cols)
    {
        var result = new float[interleaved.Length];
        int half = headSize / 2;
        for (int head = 0; head < heads; head++)
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < half; i++)
                    interleaved.AsSpan((head * headSize + 2 * i + j) * cols, cols).CopyTo(result.AsSpan((head * headSize + j * half + i) * cols, cols));
        return result;
    }

    /// <summary>Tensor name → the shard holding it: model.safetensors, or the files of model.safetensors.index.json's weight_map.</summary>
    private static Dictionary<string, SafetensorsFile> OpenShards(string folder)
    {
        var single = Path.Combine(folder, "model.safetensors");
        var index = Path.Combine(folder, "model.safetensors.index.json");
        var map = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        if (File.Exists(index))
        {
            var files = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            JsonDocument doc;
            try { doc = JsonDocument.Parse(File.ReadAllBytes(index)); }
            catch (JsonException e) { throw new InvalidDataException($"Invalid safetensors index '{index}': not valid JSON ({e.Message}).", e); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"Invalid safetensors index '{index}', field 'weight_map': missing or not an object.");
                foreach (var p in wm.EnumerateObject())
                {
                    var file = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : "";
                    if (file.Length == 0 || file != Path.GetFileName(file) || file is "." or "..")
                        throw new InvalidDataException($"Invalid safetensors index '{index}', field 'weight_map.{p.Name}': '{p.Value}' is not a file name in the folder.");
                    if (!files.TryGetValue(file, out var shard))
                    {
                        var shardPath = Path.Combine(folder, file);
                        if (!File.Exists(shardPath)) throw new InvalidDataException($"Invalid safetensors index '{index}', field 'weight_map.{p.Name}': shard '{file}' does not exist.");
                        files[file] = shard = SafetensorsFile.Read(shardPath);
                    }
                    if (!shard.Tensors.ContainsKey(p.Name))
                        throw new InvalidDataException($"Invalid safetensors index '{index}', field 'weight_map.{p.Name}': shard '{file}' has no such tensor.");
                    map[p.Name] = shard;
                }
            }
            return map;
        }
        if (!File.Exists(single))
            throw new InvalidDataException($"Hugging Face model '{folder}' has neither model.safetensors nor model.safetensors.index.json (PyTorch .bin checkpoints are not supported).");
        return Single(single);
    }

    private static Dictionary<string, SafetensorsFile> Single(string file)
    {
        var st = SafetensorsFile.Read(file);
        return st.Tensors.Keys.ToDictionary(n => n, _ => st, StringComparer.Ordinal);
    }

    /// <summary>tokenizer.model (when asked for and present) and tokenizer_config.json's chat_template; BOS/EOS checked against config.json.</summary>
    private static (LlamaTextTokenizer? Tokenizer, string? Template) ReadTokenizer(string folder, bool readTokenizer, int? bos, int? eos)
    {
        string? template = null;
        var configPath = Path.Combine(folder, "tokenizer_config.json");
        if (File.Exists(configPath))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(configPath));
                if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("chat_template", out var t))
                {
                    template = t.ValueKind switch
                    {
                        JsonValueKind.String => t.GetString(),
                        // A list of named templates: take "default".
                        JsonValueKind.Array => t.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.Object
                                && e.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String && n.GetString() == "default"
                                && e.TryGetProperty("template", out var x) && x.ValueKind == JsonValueKind.String)
                            .Select(e => e.GetProperty("template").GetString()).FirstOrDefault(),
                        _ => null,
                    };
                }
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                throw new InvalidDataException($"Invalid tokenizer config '{configPath}': not valid UTF-8 JSON ({e.Message}).", e);
            }
        }
        var model = Path.Combine(folder, "tokenizer.model");
        if (!readTokenizer || !File.Exists(model)) return (null, template);
        var tokenizer = LlamaTextTokenizer.Load(model);
        if (bos is int b && b != tokenizer.BosId) throw new InvalidDataException($"Hugging Face model '{folder}': config.json bos_token_id {b} differs from tokenizer.model's BOS id {tokenizer.BosId}.");
        if (eos is int e2 && e2 != tokenizer.EosId) throw new InvalidDataException($"Hugging Face model '{folder}': config.json eos_token_id {e2} differs from tokenizer.model's EOS id {tokenizer.EosId}.");
        return (tokenizer, template);
    }
}
