using System.Globalization;
using System.Text.Json;

namespace QSpec.Model;

/// <summary>The <see cref="LlamaConfig"/> as the JSON string stored in a .qspec file's metadata (llama2.c-style names).</summary>
internal static class QSpecConfigJson
{
    public static string Serialize(LlamaConfig c)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("dim", c.Dim);
            json.WriteNumber("hidden_dim", c.HiddenDim);
            json.WriteNumber("n_layers", c.Layers);
            json.WriteNumber("n_heads", c.Heads);
            json.WriteNumber("n_kv_heads", c.KvHeads);
            json.WriteNumber("vocab_size", c.VocabSize);
            json.WriteNumber("seq_len", c.SeqLen);
            json.WriteBoolean("shared_classifier", c.SharedClassifier);
            json.WriteNumber("rope_theta", c.RopeTheta);
            json.WriteNumber("norm_eps", c.NormEps);
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Parses and validates; <see cref="InvalidDataException"/> names the file and the config field.</summary>
    public static LlamaConfig Parse(string text, string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            var r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object) throw Bad(path, "config", "is not a JSON object");
            // TryGet* throw InvalidOperationException on a non-number (say "64" as a string), so check the kind first.
            int I(string name) => Get(r, name, path) is { ValueKind: JsonValueKind.Number } e && e.TryGetInt32(out int v)
                ? v : throw Bad(path, $"config.{name}", $"is {Get(r, name, path).GetRawText()}, not a 32-bit integer");
            float F(string name) => Get(r, name, path) is { ValueKind: JsonValueKind.Number } e && e.TryGetSingle(out float v) && float.IsFinite(v)
                ? v : throw Bad(path, $"config.{name}", $"is {Get(r, name, path).GetRawText()}, not a finite number");
            bool B(string name) => Get(r, name, path).ValueKind switch
            {
                JsonValueKind.True => true, JsonValueKind.False => false, _ => throw Bad(path, $"config.{name}", "is not a boolean"),
            };
            // Arguments evaluate left to right, so the first missing field in this order is the one reported.
            var config = new LlamaConfig(I("dim"), I("hidden_dim"), I("n_layers"), I("n_heads"), I("n_kv_heads"), I("vocab_size"),
                                         I("seq_len"), B("shared_classifier"), F("rope_theta"), F("norm_eps"));
            return config.Validate();
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: field 'config' is not valid JSON: {e.Message}", e); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: field 'config.{e.ParamName}' is invalid: {e.Message}", e); }
    }

    private static JsonElement Get(JsonElement r, string name, string path) =>
        r.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : throw Bad(path, $"config.{name}", "is missing");

    private static InvalidDataException Bad(string path, string field, string what) =>
        new(string.Create(CultureInfo.InvariantCulture, $"{path}: field '{field}' {what}."));
}
