using System.Runtime.InteropServices;
using QSpec.Inference;
using QSpec.Model;

namespace QSpec.Core.Tests.Model;

public sealed class Llama2cReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qspec-reader-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ReadsStories260KHeader()
    {
        var c = Llama2cReader.ReadConfig(SharedData.DefaultModel);
        Assert.Equal(new LlamaConfig(64, 172, 5, 8, 4, 512, 512, SharedClassifier: true), c);
        Assert.Equal(8, c.HeadSize);
        Assert.Equal(32, c.KvDim);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Version1FileGivesTheSameLogitsAsVersion0(bool sharedClassifier)
    {
        var w = TestData.Stories260K;
        var path = Path.Combine(_dir, "v1.bin");
        WriteVersion1(path, w, sharedClassifier);
        var v1 = Llama2cReader.Read(path);
        Assert.Equal(sharedClassifier, v1.Config.SharedClassifier);
        using var m0 = LlamaModel.Create(w);
        using var m1 = LlamaModel.Create(v1);
        using var s0 = m0.CreateSession();
        using var s1 = m1.CreateSession();
        int[] tokens = [1, 403, 407, 261];
        Assert.Equal(s0.Forward(tokens, 0, ExecutionMode.Fp32), s1.Forward(tokens, 0, ExecutionMode.Fp32));
    }

    [Fact]
    public void MissingFileThrowsFileNotFound()
        => Assert.Throws<FileNotFoundException>(() => Llama2cReader.Read(Path.Combine(_dir, "nope.bin")));

    [Fact]
    public void TruncatedFileNamesTheFileAndLength()
    {
        var path = Path.Combine(_dir, "truncated.bin");
        var bytes = File.ReadAllBytes(SharedData.DefaultModel);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        var e = Assert.Throws<InvalidDataException>(() => Llama2cReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("file length", e.Message);
    }

    [Theory]
    [InlineData(0, -5, "dim")]
    [InlineData(2, 0, "n_layers")]
    [InlineData(6, int.MaxValue, "seq_len")]
    [InlineData(1, 1 << 19, "file length")]
    [InlineData(4, 3, "n_kv_heads")]
    public void GarbledHeaderValueThrowsInvalidData(int field, int value, string named)
    {
        var path = Path.Combine(_dir, "garbled.bin");
        var bytes = File.ReadAllBytes(SharedData.DefaultModel);
        BitConverter.TryWriteBytes(bytes.AsSpan(field * 4), value);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => Llama2cReader.Read(path));
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void TinyFileThrowsInvalidData()
    {
        var path = Path.Combine(_dir, "tiny.bin");
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Throws<InvalidDataException>(() => Llama2cReader.Read(path));
    }

    [Fact]
    public void UnsupportedVersionThrowsInvalidData()
    {
        var path = Path.Combine(_dir, "v2.bin");
        var header = new byte[256];
        BitConverter.TryWriteBytes(header, Llama2cReader.Magic);
        BitConverter.TryWriteBytes(header.AsSpan(4), 2);
        File.WriteAllBytes(path, header);
        var e = Assert.Throws<InvalidDataException>(() => Llama2cReader.Read(path));
        Assert.Contains("version", e.Message);
    }

    /// <summary>llama2.c export.py's version-1 layout, written independently of the reader.</summary>
    private static void WriteVersion1(string path, LlamaWeights w, bool shared)
    {
        var c = w.Config;
        using var f = File.Create(path);
        var header = new byte[256];
        BitConverter.TryWriteBytes(header, Llama2cReader.Magic);
        BitConverter.TryWriteBytes(header.AsSpan(4), 1);
        int[] p = [c.Dim, c.HiddenDim, c.Layers, c.Heads, c.KvHeads, c.VocabSize, c.SeqLen];
        for (int i = 0; i < 7; i++) BitConverter.TryWriteBytes(header.AsSpan(8 + 4 * i), p[i]);
        header[36] = shared ? (byte)1 : (byte)0;
        f.Write(header);
        void Put(float[] a) => f.Write(MemoryMarshal.AsBytes(a.AsSpan()));
        foreach (var l in w.Layers) Put(l.AttentionNorm);
        foreach (var l in w.Layers) Put(l.FfnNorm);
        Put(w.FinalNorm);
        Put(w.TokenEmbedding);
        foreach (var sel in new Func<LayerWeights, LinearWeight>[] { l => l.Wq, l => l.Wk, l => l.Wv, l => l.Wo, l => l.W1, l => l.W2, l => l.W3 })
            foreach (var l in w.Layers) Put(sel(l).Dense!);
        if (!shared) Put(w.Classifier.Dense!);
    }
}

public sealed class Llama2cReaderHostileHeaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qspec-reader-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(int[] header, int extraBytes = 0)
    {
        var path = Path.Combine(_dir, "hostile.bin");
        var bytes = new byte[header.Length * 4 + extraBytes];
        for (int i = 0; i < header.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(4 * i), header[i]);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void VocabSizeIntMinValueIsInvalidData()
    {
        var bytes = File.ReadAllBytes(SharedData.DefaultModel);
        BitConverter.TryWriteBytes(bytes.AsSpan(20), int.MinValue);
        var path = Path.Combine(_dir, "minvocab.bin");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => Llama2cReader.ReadConfig(path));
        Assert.Contains("vocab_size", e.Message);
        Assert.Contains(path, e.Message);
    }

    /// <summary>
    /// 28 bytes whose implied size, 28 + 4·floats, is 2^64 + 28: a 64-bit sum wraps to exactly the file length.
    /// (dim 2^20, hidden 2^20, 599186 layers, 2^19 heads and KV heads, vocab 898778, seq_len 2^19.)
    /// </summary>
    [Fact]
    public void HeaderWhoseSizeWrapsTo28BytesIsInvalidData()
    {
        var path = Write([1 << 20, 1 << 20, 599186, 1 << 19, 1 << 19, 898778, 1 << 19]);
        var e = Assert.Throws<InvalidDataException>(() => Llama2cReader.ReadConfig(path));
        Assert.Contains("file length", e.Message);
        Assert.Throws<InvalidDataException>(() => Llama2cReader.Read(path));
    }
}
