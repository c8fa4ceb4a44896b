using System.Text.Json;

namespace QSpec.Model.HuggingFace;

/// <summary>
/// A Hugging Face <c>config.json</c> of a <c>LlamaForCausalLM</c> model, checked and turned into a <see cref="LlamaConfig"/>.
/// Defaults are transformers' LlamaConfig defaults: num_key_value_heads = num_attention_heads, rms_norm_eps 1e-6,
/// rope_theta 10000, tie_word_embeddings false, max_position_embeddings 2048.
/// </summary>
internal static class HuggingFaceConfig
{
    /// <summary>Reads and validates <paramref name="path"/>; bos/eos ids are null when config.json does not give them.</summary>
    public static (LlamaConfig Config, bool Tied, int? BosId, int? EosId) Read(string path)
    {
        try { return Parse(path); }
        catch (InvalidOperationException e) { throw Bad(path, "config", $"is not valid UTF-8 JSON ({e.Message})"); } // System.Text.Json checks UTF-8 lazily
    }

    private static (LlamaConfig Config, bool Tied, int? BosId, int? EosId) Parse(string path)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw Bad(path, "config", $"is not valid JSON ({e.Message})"); }
        using (doc)
        {
            var c = doc.RootElement;
            if (c.ValueKind != JsonValueKind.Object) throw Bad(path, "config", "is not a JSON object");
            var archs = c.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
                ? a.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : "?").ToArray() : [];
            var modelType = c.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            if (!archs.Contains("LlamaForCausalLM") && modelType != "llama")
                throw Bad(path, "architectures", $"architecture '{(archs.Length > 0 ? string.Join(", ", archs) : modelType ?? "(none)")}' is not supported: only llama (LlamaForCausalLM)");
            if (Str(c, "hidden_act") is string act && act != "silu") throw Bad(path, "hidden_act", $"is '{act}'; only silu (SwiGLU) is supported");
            foreach (var bias in new[] { "attention_bias", "mlp_bias" })
                if (c.TryGetProperty(bias, out var b) && b.ValueKind == JsonValueKind.True) throw Bad(path, bias, "is true; biases are not supported");
            if (c.TryGetProperty("rope_scaling", out var rs) && rs.ValueKind != JsonValueKind.Null)
                throw Bad(path, "rope_scaling", "is set; RoPE scaling is not supported");

            int dim = Int(c, "hidden_size", path), heads = Int(c, "num_attention_heads", path);
            var config = new LlamaConfig(dim, Int(c, "intermediate_size", path), Int(c, "num_hidden_layers", path), heads,
                Int(c, "num_key_value_heads", path, heads), Int(c, "vocab_size", path), Int(c, "max_position_embeddings", path, 2048),
                SharedClassifier: true, RopeTheta: Float(c, "rope_theta", path, 10000f), NormEps: Float(c, "rms_norm_eps", path, 1e-6f));
            try { config.Validate(); }
            catch (ArgumentException e) { throw Bad(path, e.ParamName ?? "config", e.Message); }
            if (c.TryGetProperty("head_dim", out var hd) && hd.ValueKind != JsonValueKind.Null && !(hd.TryGetInt32(out var h) && h == config.HeadSize))
                throw Bad(path, "head_dim", $"is {hd}; only hidden_size / num_attention_heads = {config.HeadSize} is supported");
            bool tied = c.TryGetProperty("tie_word_embeddings", out var t) && t.ValueKind == JsonValueKind.True;
            return (config, tied, OptionalId(c, "bos_token_id"), OptionalId(c, "eos_token_id"));
        }
    }

    private static string? Str(JsonElement c, string key) => c.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static int Int(JsonElement c, string key, string path, int? fallback = null)
    {
        if (!c.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
            return fallback ?? throw Bad(path, key, "is missing");
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n) || n < 1 || n > LlamaConfig.MaxDimension)
            throw Bad(path, key, $"is {v}; it must be an integer in 1..{LlamaConfig.MaxDimension}");
        return n;
    }

    private static float Float(JsonElement c, string key, string path, float fallback)
    {
        if (!c.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double x) || !(x > 0) || !double.IsFinite(x))
            throw Bad(path, key, $"is {v}; it must be a positive number");
        return (float)x;
    }

    private static int? OptionalId(JsonElement c, string key)
        => c.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) ? n : null;

    public static InvalidDataException Bad(string path, string field, string problem)
        => new($"Invalid Hugging Face config '{path}', field '{field}': {problem}.");
}
