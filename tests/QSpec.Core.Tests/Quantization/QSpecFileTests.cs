using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using QSpec.Inference;
using QSpec.Model;
using QSpec.Quantization;

namespace QSpec.Core.Tests.Quantization;

public sealed class QSpecFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qspec-file-tests").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => System.IO.Path.Combine(_dir, name);

    private static LlamaWeights Quantized() =>
        ModelQuantizer.Quantize(SyntheticModel.Create(layers: 2), new QuantizerOptions { Method = QuantizationMethod.Rtn, GroupSize = 64 }, null);

    private string WriteQuantized(string name = "q.qspec")
    {
        var path = PathOf(name);
        QSpecFile.Write(path, Quantized(), tokenizerBytes: [1, 2, 3, 250]);
        return path;
    }

    [Fact]
    public void Float32ModelRoundTripsAndStaysTied()
    {
        var original = TestData.Stories260K;
        var path = PathOf("f32.qspec");
        QSpecFile.Write(path, original, tokenizerPath: "tok512.bin");
        var read = QSpecFile.Read(path);
        var w = read.Weights;
        Assert.Equal(original.Config, w.Config);
        Assert.Null(w.Quantization);
        Assert.Same(w.TokenEmbedding, w.Classifier.Dense);
        Assert.Equal(original.TokenEmbedding, w.TokenEmbedding);
        Assert.Equal(original.FinalNorm, w.FinalNorm);
        foreach (var ((name, a), (_, b)) in original.LinearLayers().Zip(w.LinearLayers()))
        {
            Assert.Equal(a.Dense, b.Dense);
            Assert.Null(b.Int4);
        }
        Assert.Equal("tok512.bin", read.TokenizerPath);
        Assert.Null(read.TokenizerBytes);
        Assert.Equal(original.Layers[3].FfnNorm, w.Layers[3].FfnNorm);
    }

    [Fact]
    public void QuantizedModelRoundTripsWithTokenizerAndMetadata()
    {
        var original = Quantized();
        var path = PathOf("q.qspec");
        QSpecFile.Write(path, original, tokenizerBytes: [1, 2, 3, 250], extraMetadata: new Dictionary<string, string> { ["source"] = "synthetic" });
        var read = QSpecFile.Read(path);
        Assert.Equal(original.Quantization, read.Weights.Quantization);
        Assert.Equal(original.Config, read.Weights.Config);
        Assert.Equal(new byte[] { 1, 2, 3, 250 }, read.TokenizerBytes);
        Assert.Equal("synthetic", read.Metadata["source"]);
        Assert.Equal("rtn-clip", read.Metadata[QSpecFile.KeyMethod]);
        foreach (var ((name, a), (_, b)) in original.LinearLayers().Zip(read.Weights.LinearLayers()))
        {
            Assert.Null(b.Dense);
            Assert.Equal(a.Int4!.Data, b.Int4!.Data);
            Assert.Equal(a.Int4.Scales, b.Int4.Scales);
            Assert.Equal(a.Int4.GroupSize, b.Int4.GroupSize);
        }
        Assert.Equal(0, (8 + BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(path).AsSpan(0, 8))) % 8);
    }

    [Fact]
    public void QuantizedStories260KFromFileGivesIdenticalW4A16Logits()
    {
        var quantized = ModelQuantizer.Quantize(TestData.Stories260K, new QuantizerOptions { Method = QuantizationMethod.Rtn, GroupSize = 32 }, null);
        var path = PathOf("stories.qspec");
        QSpecFile.Write(path, quantized, File.ReadAllBytes(SharedData.DefaultTokenizer));
        var read = QSpecFile.Read(path);
        Assert.Equal(File.ReadAllBytes(SharedData.DefaultTokenizer), read.TokenizerBytes);
        Assert.Equal(4, read.Weights.Quantization!.FfnHadamardBlock);
        int[] tokens = [TestData.Bos, .. TestData.Expected.Ids[..12]];
        using var m1 = LlamaModel.Create(quantized);
        using var m2 = LlamaModel.Create(read.Weights);
        using var s1 = m1.CreateSession();
        using var s2 = m2.CreateSession();
        Assert.Equal(s1.Forward(tokens, 0, ExecutionMode.W4A16), s2.Forward(tokens, 0, ExecutionMode.W4A16));
    }

    [Fact]
    public void ReservedMetadataKeyIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => QSpecFile.Write(PathOf("x.qspec"), Quantized(),
            extraMetadata: new Dictionary<string, string> { [QSpecFile.KeyConfig] = "{}" }));
        Assert.Contains("config", e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    public void TruncatedFileIsRejected(int cut)
    {
        var path = WriteQuantized();
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^cut]);
        var e = Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("data_offsets", e.Message);
        File.WriteAllBytes(path, bytes[..5]);
        Assert.Contains("header length", Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path)).Message);
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(0L)]
    [InlineData(long.MaxValue)]
    [InlineData(200L * 1024 * 1024)]
    public void BadHeaderLengthIsRejectedBeforeAllocating(long length)
    {
        var path = WriteQuantized();
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt64LittleEndian(bytes, length);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path));
        Assert.Contains("header length", e.Message);
        Assert.Contains(length.ToString(), e.Message);
    }

    [Fact]
    public void CorruptedHeaderJsonIsRejected()
    {
        var path = WriteQuantized();
        var bytes = File.ReadAllBytes(path);
        int i = Encoding.ASCII.GetString(bytes, 8, 200).IndexOf("\"__metadata__\"", StringComparison.Ordinal);
        bytes[8 + i + 1] = (byte)'{';
        bytes[8 + i] = (byte)'[';
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path));
        Assert.Contains("'header'", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void OffsetsOutOfRangeAreRejected()
    {
        var path = WriteQuantized();
        RewriteHeader(path, h => h["norm"]!["data_offsets"] = new JsonArray(0L, long.MaxValue));
        var e = Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path));
        Assert.Contains("'norm.data_offsets'", e.Message);
        Assert.Contains("outside", e.Message);
    }

    [Fact]
    public void OverlappingOffsetsAreRejected()
    {
        var path = WriteQuantized();
        // Point the final norm at the embedding's first bytes: same size, so only the tiling check can catch it.
        RewriteHeader(path, h =>
        {
            long size = h["norm"]!["data_offsets"]![1]!.GetValue<long>() - h["norm"]!["data_offsets"]![0]!.GetValue<long>();
            h["norm"]!["data_offsets"] = new JsonArray(0L, size);
        });
        var e = Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path));
        Assert.Contains("overlap", e.Message);
    }

    [Fact]
    public void WrongDtypeIsRejected()
    {
        var path = WriteQuantized();
        RewriteHeader(path, h => h["layers.1.wq.scales"]!["dtype"] = "F16");
        var e = Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path));
        Assert.Contains("'layers.1.wq.scales.dtype'", e.Message);
        Assert.Contains("F16", e.Message);

        path = WriteQuantized("u8.qspec");
        // A supported dtype with a consistent size, but not the one the config requires.
        RewriteHeader(path, h => { h["norm"]!["dtype"] = "U8"; h["norm"]!["shape"] = new JsonArray(64L * 4); });
        e = Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path));
        Assert.Contains("'norm.dtype'", e.Message);
    }

    [Fact]
    public void ShapeDisagreeingWithConfigIsRejected()
    {
        var path = WriteQuantized();
        RewriteHeader(path, h => h["layers.0.w2.scales"]!["shape"] = new JsonArray(3L * 64, 1L));
        var e = Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path));
        Assert.Contains("'layers.0.w2.scales.shape'", e.Message);
        Assert.Contains("[64, 3]", e.Message);
    }

    [Fact]
    public void BadMetadataIsRejected()
    {
        var path = WriteQuantized();
        RewriteHeader(path, h => h["__metadata__"]![QSpecFile.KeyConfig] = "{\"dim\": 64}");
        var m = Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path)).Message; Assert.True(m.Contains("config.hidden_dim"), m);
        path = WriteQuantized("g.qspec");
        RewriteHeader(path, h => h["__metadata__"]![QSpecFile.KeyGroupSize] = "48");
        Assert.Contains("48", Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path)).Message);
        path = WriteQuantized("v.qspec");
        RewriteHeader(path, h => h["__metadata__"]![QSpecFile.KeyVersion] = "9");
        Assert.Contains(QSpecFile.KeyVersion, Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path)).Message);
    }

    [Theory]
    [InlineData("dim")]
    [InlineData("seq_len")]
    [InlineData("rope_theta")]
    public void ConfigNumberGivenAsStringNamesFileAndField(string field)
    {
        var path = WriteQuantized();
        RewriteHeader(path, h =>
        {
            var config = JsonNode.Parse(h["__metadata__"]![QSpecFile.KeyConfig]!.GetValue<string>())!.AsObject();
            config[field] = config[field]!.ToJsonString(); // 64 becomes "64"
            h["__metadata__"]![QSpecFile.KeyConfig] = config.ToJsonString();
        });
        var e = Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains($"config.{field}", e.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0x80 })]
    [InlineData(new byte[] { 0xC0, 0xAF })]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]
    public void InvalidUtf8InTheHeaderNamesFileAndHeader(byte[] bad)
    {
        var path = WriteQuantized();
        var bytes = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        int quote = Array.IndexOf(bytes, (byte)'"', 8) + 1; // inside the first key
        byte[] output = [.. bytes.AsSpan(0, quote), .. bad, .. bytes.AsSpan(quote)];
        BinaryPrimitives.WriteInt64LittleEndian(output, n + bad.Length);
        File.WriteAllBytes(path, output);
        var e = Assert.Throws<InvalidDataException>(() => QSpecFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("UTF-8", e.Message);
    }

    /// <summary>Replaces the JSON header (re-serialized after <paramref name="edit"/>) and keeps the data bytes.</summary>
    private static void RewriteHeader(string path, Action<JsonObject> edit)
    {
        var bytes = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        var header = JsonNode.Parse(bytes.AsSpan(8, (int)n))!.AsObject();
        edit(header);
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var output = new byte[8 + json.Length + bytes.Length - 8 - n];
        BinaryPrimitives.WriteInt64LittleEndian(output, json.Length);
        json.CopyTo(output, 8);
        bytes.AsSpan((int)(8 + n)).CopyTo(output.AsSpan(8 + json.Length));
        File.WriteAllBytes(path, output);
    }
}
