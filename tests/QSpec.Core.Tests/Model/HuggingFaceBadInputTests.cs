using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using QSpec.Model;
using QSpec.Model.HuggingFace;

namespace QSpec.Core.Tests.Model;

/// <summary>
/// Hugging Face folders built from stories260K-hf with one thing changed: other dtypes and shards that must load, and
/// malformed ones that must give an InvalidDataException naming the file and the field.
/// </summary>
public sealed class HuggingFaceBadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qspec-hf-").FullName;
    private int _folders;
    private static readonly Lazy<SafetensorsFile> s_original = new(() => SafetensorsFile.Read(Path.Combine(HuggingFaceReaderTests.Folder, "model.safetensors")));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>One tensor to write: dtype, shape and the encoded bytes.</summary>
    private sealed record Entry(string Dtype, long[] Shape, byte[] Data);

    /// <summary>The original tensors as F32 entries, by name.</summary>
    private static Dictionary<string, Entry> Tensors()
    {
        var bytes = File.ReadAllBytes(s_original.Value.Path);
        return s_original.Value.Tensors.Values.ToDictionary(t => t.Name,
            t => new Entry(t.Dtype, t.Shape, bytes.AsSpan((int)t.Start, (int)t.Length).ToArray()));
    }

    private static byte[] Safetensors(IEnumerable<KeyValuePair<string, Entry>> tensors, Func<JsonObject, JsonObject>? editHeader = null)
    {
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        long offset = 0;
        var data = new MemoryStream();
        foreach (var (name, e) in tensors)
        {
            header[name] = new JsonObject
            {
                ["dtype"] = e.Dtype, ["shape"] = new JsonArray(e.Shape.Select(x => (JsonNode)x).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + e.Data.Length),
            };
            data.Write(e.Data);
            offset += e.Data.Length;
        }
        var json = Encoding.UTF8.GetBytes((editHeader?.Invoke(header) ?? header).ToJsonString());
        var file = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteInt64LittleEndian(file, json.Length);
        json.CopyTo(file, 8);
        data.ToArray().CopyTo(file, 8 + json.Length);
        return file;
    }

    /// <summary>A folder with the original tokenizer files, config.json edited by <paramref name="config"/>, and <paramref name="files"/>.</summary>
    private string Folder(Action<JsonObject>? config = null, params (string Name, byte[] Bytes)[] files)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_dir, $"m{++_folders}")).FullName;
        foreach (var f in new[] { "tokenizer.model", "tokenizer_config.json" })
            File.Copy(Path.Combine(HuggingFaceReaderTests.Folder, f), Path.Combine(dir, f));
        var c = JsonNode.Parse(File.ReadAllText(Path.Combine(HuggingFaceReaderTests.Folder, "config.json")))!.AsObject();
        config?.Invoke(c);
        File.WriteAllText(Path.Combine(dir, "config.json"), c.ToJsonString());
        foreach (var (name, bytes) in files) File.WriteAllBytes(Path.Combine(dir, name), bytes);
        return dir;
    }

    private string FolderWith(byte[] safetensors, Action<JsonObject>? config = null) => Folder(config, ("model.safetensors", safetensors));

    private static void Rejects(string path, params string[] expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelFiles.Read(path));
        foreach (var s in expected.Prepend(path)) Assert.True(e.Message.Contains(s, StringComparison.Ordinal), $"'{s}' not in: {e.Message}");
    }

    private static Entry Convert(Entry e, string dtype)
    {
        var floats = new float[e.Data.Length / 4];
        for (int i = 0; i < floats.Length; i++) floats[i] = BinaryPrimitives.ReadSingleLittleEndian(e.Data.AsSpan(4 * i));
        var data = new byte[floats.Length * 2];
        for (int i = 0; i < floats.Length; i++)
        {
            ushort bits = dtype == "F16" ? BitConverter.HalfToUInt16Bits((Half)floats[i]) : (ushort)(BitConverter.SingleToUInt32Bits(floats[i]) >> 16);
            BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2 * i), bits);
        }
        return new Entry(dtype, e.Shape, data);
    }

    [Theory]
    [InlineData("F16")]
    [InlineData("BF16")]
    public void HalfPrecisionTensorsAreWidenedExactly(string dtype)
    {
        var tensors = Tensors().ToDictionary(p => p.Key, p => Convert(p.Value, dtype));
        var w = ModelFiles.Read(FolderWith(Safetensors(tensors))).Weights;
        var reference = TestData.Stories260K;
        float Round(float x) => dtype == "F16" ? (float)(Half)x : BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(x) & 0xFFFF0000);
        Assert.Equal(reference.Layers[2].W2.Dense!.Select(Round), w.Layers[2].W2.Dense!);
        Assert.Equal(reference.Layers[1].Wq.Dense!.Select(Round), w.Layers[1].Wq.Dense!);
        Assert.Equal(reference.TokenEmbedding.Select(Round), w.TokenEmbedding);
    }

    [Fact]
    public void ShardedCheckpointEqualsTheSingleFile()
    {
        var tensors = Tensors().ToArray();
        var first = tensors.Where((_, i) => i % 2 == 0).ToArray();
        var second = tensors.Where((_, i) => i % 2 == 1).ToArray();
        var index = new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = new JsonObject(
            first.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)"model-00001-of-00002.safetensors"))
                .Concat(second.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)"model-00002-of-00002.safetensors")))) };
        var dir = Folder(null, ("model-00001-of-00002.safetensors", Safetensors(first)), ("model-00002-of-00002.safetensors", Safetensors(second)),
            ("model.safetensors.index.json", Encoding.UTF8.GetBytes(index.ToJsonString())));
        var w = ModelFiles.Read(dir).Weights;
        Assert.Equal(TestData.Stories260K.Layers[4].Wk.Dense, w.Layers[4].Wk.Dense);
        Assert.Equal(TestData.Stories260K.FinalNorm, w.FinalNorm);
    }

    [Fact]
    public void UntiedLmHeadIsUsed()
    {
        var tensors = Tensors();
        var head = tensors["model.embed_tokens.weight"];
        var data = (byte[])head.Data.Clone();
        data[0] ^= 1; // a different first weight: the classifier must come from lm_head, not the embedding
        tensors["lm_head.weight"] = head with { Data = data };
        var w = ModelFiles.Read(FolderWith(Safetensors(tensors), c => c["tie_word_embeddings"] = false)).Weights;
        Assert.False(w.Config.SharedClassifier);
        Assert.NotEqual(w.TokenEmbedding[0], w.Classifier.Dense![0]);
        Assert.Equal(w.TokenEmbedding[1..], w.Classifier.Dense[1..]);
    }

    [Fact]
    public void UntiedWithoutLmHeadIsRejected()
        => Rejects(FolderWith(Safetensors(Tensors()), c => c["tie_word_embeddings"] = false), "lm_head.weight", "missing");

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("num_hidden_layers")]
    [InlineData("intermediate_size")]
    [InlineData("vocab_size")]
    public void MissingConfigKeysAreNamed(string key)
    {
        var dir = FolderWith(Safetensors(Tensors()), c => c.Remove(key));
        Rejects(dir, key, "missing");
    }

    [Fact]
    public void UnsupportedArchitectureIsNamed()
    {
        var dir = FolderWith(Safetensors(Tensors()), c => { c["architectures"] = new JsonArray("Qwen2ForCausalLM"); c["model_type"] = "qwen2"; });
        Rejects(dir, "config.json", "architecture 'Qwen2ForCausalLM' is not supported: only llama");
    }

    [Fact]
    public void WrongDtypeIsNamed()
    {
        var tensors = Tensors();
        tensors["model.layers.0.self_attn.q_proj.weight"] = tensors["model.layers.0.self_attn.q_proj.weight"] with { Dtype = "I32" };
        Rejects(FolderWith(Safetensors(tensors)), "model.layers.0.self_attn.q_proj.weight.dtype", "I32");
    }

    [Fact]
    public void MismatchedShapeIsNamed()
    {
        var tensors = Tensors();
        tensors["model.layers.0.self_attn.q_proj.weight"] = tensors["model.layers.0.self_attn.q_proj.weight"] with { Shape = [32, 128] };
        Rejects(FolderWith(Safetensors(tensors)), "model.layers.0.self_attn.q_proj.weight.shape", "[32, 128], expected [64, 64]");
    }

    [Fact]
    public void OffsetsPastTheEndAreRejected()
    {
        var bytes = Safetensors(Tensors(), h => { h["model.norm.weight"]!["data_offsets"] = new JsonArray(0L, 1L << 40); return h; });
        var dir = FolderWith(bytes);
        Rejects(dir, "model.norm.weight.data_offsets", "inside the");
    }

    [Theory]
    [InlineData(7)]
    [InlineData(20)]
    [InlineData(600_000)]
    public void TruncatedSafetensorsAreRejected(int length)
    {
        var dir = FolderWith(Safetensors(Tensors())[..length]);
        Rejects(dir);
    }

    [Fact]
    public void HugeHeaderLengthIsRejected()
    {
        var bytes = Safetensors(Tensors());
        BinaryPrimitives.WriteInt64LittleEndian(bytes, long.MaxValue);
        Rejects(FolderWith(bytes), "header length");
    }

    [Fact]
    public void IndexNamingAFileOutsideTheFolderIsRejected()
    {
        var index = new JsonObject { ["weight_map"] = new JsonObject { ["model.norm.weight"] = "../model.safetensors" } };
        var dir = Folder(null, ("model.safetensors.index.json", Encoding.UTF8.GetBytes(index.ToJsonString())));
        Rejects(dir, "weight_map.model.norm.weight", "not a file name in the folder");
    }

    [Fact]
    public void ChatTemplateComesFromTokenizerConfig()
    {
        var dir = FolderWith(Safetensors(Tensors()));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer_config.json")))!.AsObject();
        config["chat_template"] = "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}";
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString());
        Assert.Equal("{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}", ModelFiles.Read(dir).ChatTemplate);
    }
}
