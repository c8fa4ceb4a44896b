using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using QSpec.Model;
using QSpec.Model.Gguf;

namespace QSpec.Core.Tests.Model;

/// <summary>Malformed and unsupported GGUF files: an InvalidDataException naming the file and the field, fast, without a huge allocation.</summary>
public sealed class GgufBadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qspec-badgguf-").FullName;
    private static byte[] Original => File.ReadAllBytes(GgufReaderTests.F32Gguf);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(byte[] bytes, string name = "bad.gguf")
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Reads <paramref name="path"/>, expecting an InvalidDataException that names the file and contains each of <paramref name="expected"/>.</summary>
    private static void Rejects(string path, params string[] expected)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<InvalidDataException>(() => ModelFiles.Read(path));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 64L << 20);
        foreach (var s in expected.Prepend(path)) Assert.True(e.Message.Contains(s, StringComparison.Ordinal), $"'{s}' not in: {e.Message}");
    }

    /// <summary>Rewrites the original file through <see cref="GgufWriter"/>, editing metadata and tensors on the way.</summary>
    private string Rewrite(Func<string, object, object?>? meta = null, Func<GgufTensorInfo, (long[] Dims, GgufTensorType Type)>? tensor = null,
                           (string Key, object Value)? add = null)
    {
        var src = GgufReaderTests.F32Gguf;
        using var s = File.OpenRead(src);
        var h = GgufHeader.Read(s, src);
        var w = new GgufWriter();
        foreach (var (key, value) in h.Metadata)
        {
            var v = meta is null ? value : meta(key, value);
            if (v is null) continue;
            w.Add(key, v switch
            {
                long n and >= 0 and <= uint.MaxValue => (uint)n,
                long n => (int)n,
                double d => (float)d,
                double[] a => a.Select(x => (float)x).ToArray(),
                long[] a => a.Select(x => (int)x).ToArray(),
                _ => v,
            });
        }
        if (add is var (k2, v2)) w.Add(k2, v2);
        var bytes = File.ReadAllBytes(src);
        foreach (var t in h.Tensors)
        {
            var (dims, type) = tensor?.Invoke(t) ?? (t.Dims, t.Type);
            w.AddTensor(t.Name, dims, type, bytes.AsSpan((int)(h.DataStart + t.Offset), (int)t.Bytes).ToArray());
        }
        var path = Path.Combine(_dir, "rewritten.gguf");
        using var o = File.Create(path);
        w.Write(o);
        return path;
    }

    [Fact]
    public void AnUnchangedRewriteLoads() => Assert.Equal(5, ModelFiles.Read(Rewrite()).Weights.Config.Layers);

    [Fact]
    public void UnsupportedArchitectureIsNamed()
        => Rejects(Rewrite(meta: (k, v) => k == "general.architecture" ? "qwen2" : v), "general.architecture", "architecture 'qwen2' is not supported: only llama");

    [Theory]
    [InlineData(1u, "GGUF version 1 is not supported")]
    [InlineData(4u, "GGUF version 4 is not supported")]
    [InlineData(0x03000000u, "big-endian")]
    public void UnsupportedVersionsAreNamed(uint version, string expected)
    {
        var b = Original;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), version);
        Rejects(Write(b), "version", expected);
    }

    [Fact]
    public void Version2IsRead()
    {
        var b = Original;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 2);
        Assert.Equal(512, ModelFiles.Read(Write(b)).Weights.Config.VocabSize);
    }

    [Theory]
    [InlineData(10)]      // inside the header counts
    [InlineData(100)]     // inside the metadata
    [InlineData(14000)]   // inside the tensor infos
    [InlineData(600_000)] // inside the tensor data
    public void TruncatedFilesAreRejected(int length) => Rejects(Write(Original[..length]));

    [Theory]
    [InlineData(8, "tensor_count")]
    [InlineData(16, "kv_count")]
    public void HugeCountsAreRejectedBeforeAllocating(int offset, string field)
    {
        var b = Original;
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(offset), 1UL << 40);
        Rejects(Write(b), field, "more than the");
    }

    [Fact]
    public void HugeArrayCountIsRejectedBeforeAllocating()
    {
        var b = Original;
        int key = b.AsSpan().IndexOf("tokenizer.ggml.tokens"u8);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(key + "tokenizer.ggml.tokens".Length + 8), 1UL << 36);
        Rejects(Write(b), "tokenizer.ggml.tokens (count)");
    }

    [Fact]
    public void HugeStringLengthIsRejected()
    {
        var b = Original;
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), ulong.MaxValue - 3);
        Rejects(Write(b), "metadata key #0", "length");
    }

    [Fact]
    public void UnsupportedTensorTypeIsNamed()
        => Rejects(Rewrite(tensor: t => t.Name == "blk.0.attn_q.weight" ? (t.Dims, GgufTensorType.Q4_K) : (t.Dims, t.Type)),
            "blk.0.attn_q.weight", "Q4_K", "not supported");

    [Fact]
    public void OffsetPastTheEndIsRejected()
    {
        var b = Original;
        int name = b.AsSpan().IndexOf("token_embd.weight"u8);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(name + 17 + 4 + 16 + 4), 1UL << 40);
        Rejects(Write(b), "token_embd.weight offset", "past the end");
    }

    [Fact]
    public void MisalignedOffsetIsRejected()
    {
        var b = Original;
        int name = b.AsSpan().IndexOf("output_norm.weight"u8);
        int at = name + 18 + 4 + 8 + 4;
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(at)) + 4);
        Rejects(Write(b), "output_norm.weight offset", "alignment");
    }

    [Theory]
    [InlineData("llama.embedding_length")]
    [InlineData("llama.block_count")]
    [InlineData("llama.attention.head_count")]
    [InlineData("general.architecture")]
    public void MissingKeysAreNamed(string key) => Rejects(Rewrite(meta: (k, v) => k == key ? null : v), key, "missing");

    [Fact]
    public void MismatchedShapeIsNamed()
        => Rejects(Rewrite(tensor: t => t.Name == "blk.0.attn_k.weight" ? ([32, 64], t.Type) : (t.Dims, t.Type)),
            "blk.0.attn_k.weight shape", "is [32, 64], expected [64, 32]");

    [Fact]
    public void HyperparameterInconsistentWithTensorsIsNamed()
        => Rejects(Rewrite(meta: (k, v) => k == "llama.feed_forward_length" ? 100L : v), "ffn_gate.weight shape", "expected [64, 100]");

    [Fact]
    public void WrongMetadataTypeIsNamed()
        => Rejects(Rewrite(meta: (k, v) => k == "llama.embedding_length" ? "sixty-four" : v), "llama.embedding_length", "not an integer");

    [Fact]
    public void NonLlamaTokenizerLayoutIsNamed()
        => Rejects(Rewrite(meta: (k, v) => k == "tokenizer.ggml.bos_token_id" ? 7L : v), "tokenizer.ggml.bos_token_id", "not supported yet");

    [Fact]
    public void ChatTemplateIsKept()
    {
        const string template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}";
        Assert.Null(ModelFiles.Read(GgufReaderTests.F32Gguf).ChatTemplate);
        Assert.Equal(template, ModelFiles.Read(Rewrite(add: ("tokenizer.chat_template", template))).ChatTemplate);
    }
}
