using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Model;
using QSpec.Quantization;
using QSpec.Core.Tests.Tokenization;

namespace QSpec.Core.Tests.Model;

/// <summary>GgufExport: what QSpec.NET verifies with is what the GGUF file holds.</summary>
public sealed class GgufExportTests : IDisposable
{
    private static readonly ModelLoadOptions Cpu = new() { Backend = BackendKind.Cpu };
    private readonly string _dir = Directory.CreateTempSubdirectory("qspec-export-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static LlamaWeights Rtn(int groupSize, bool rotate = false) => ModelQuantizer.Quantize(TestData.Stories260K,
        new QuantizerOptions { Method = QuantizationMethod.Rtn, GroupSize = groupSize, Rotate = rotate }, null);

    private static int[] W4A16(LlamaModel model, int[] prompt)
    {
        using var s = model.CreateSession();
        return new Generator(s).Generate(prompt, new GenerationOptions { MaxTokens = 100, Mode = ExecutionMode.W4A16 }).ToArray();
    }

    [Fact]
    public void QSpecGroup32ToGgufAndBackGivesTheSameInt4WeightsAndW4A16Ids()
    {
        var qspecPath = Path.Combine(_dir, "m.qspec");
        QSpecFile.Write(qspecPath, GgufExport.WithHalfPrecisionScales(Rtn(32)), File.ReadAllBytes(SharedData.DefaultTokenizer));
        using var fromQSpec = LlamaModel.Load(qspecPath, Cpu);
        var ggufPath = Path.Combine(_dir, "m.gguf");
        GgufExport.Write(ggufPath, fromQSpec.Weights, fromQSpec.Tokenizer);
        using var fromGguf = LlamaModel.Load(ggufPath, Cpu);

        foreach (var ((name, a), (_, b)) in fromQSpec.Weights.LinearLayers().Zip(fromGguf.Weights.LinearLayers()))
        {
            Assert.True(a.Int4!.Data.AsSpan().SequenceEqual(b.Int4!.Data), name);
            Assert.True(a.Int4.Scales.AsSpan().SequenceEqual(b.Int4.Scales), name);
        }
        Assert.Equal(fromQSpec.Weights.TokenEmbedding, fromGguf.Weights.TokenEmbedding);
        foreach (var p in TokenizerFiles.Paragraphs(5))
        {
            var prompt = fromQSpec.Tokenizer!.Encode(string.Join(' ', p.Split(' ').Take(6)), addBos: true).ToArray();
            Assert.Equal(prompt, fromGguf.Tokenizer!.Encode(string.Join(' ', p.Split(' ').Take(6)), addBos: true));
            Assert.Equal(W4A16(fromQSpec, prompt), W4A16(fromGguf, prompt));
        }
    }

    [Fact]
    public void Float32ExportReloadsBitwiseAndKeepsTheEmbeddingTied()
    {
        var path = Path.Combine(_dir, "f32.gguf");
        GgufExport.Write(path, TestData.Stories260K, ModelFiles.Read(SharedData.DefaultModel).Tokenizer);
        var header = GgufReaderTests.ReadHeader(path);
        Assert.False(header.TensorsByName.ContainsKey("output.weight"));
        using var model = LlamaModel.Load(path, Cpu);
        Assert.True(model.Config.SharedClassifier);
        using var reference = LlamaModel.Create(TestData.Stories260K);
        Assert.Equal(ModelLoadTests.Logits(reference), ModelLoadTests.Logits(model));
    }

    [Fact]
    public void SentencePieceTokenizerOfAHuggingFaceFolderIsWrittenAsGgufVocabulary()
    {
        var hf = ModelFiles.Read(HuggingFaceReaderTests.Folder);
        var path = Path.Combine(_dir, "hf.gguf");
        GgufExport.Write(path, hf.Weights, hf.Tokenizer, chatTemplate: "{{ messages }}");
        var back = ModelFiles.Read(path);
        Assert.Equal("{{ messages }}", back.ChatTemplate);
        foreach (var text in TokenizerFiles.Paragraphs(50))
            Assert.Equal(TokenizerFiles.Tok512.Encode(text, addBos: true), back.Tokenizer!.Encode(text, addBos: true));
    }

    [Theory]
    [InlineData(64)]
    [InlineData(0)]
    public void OtherGroupSizesAreRefusedWithAMessageToUse32(int groupSize)
    {
        var e = Assert.Throws<ArgumentException>(() => GgufExport.Write(Path.Combine(_dir, "g.gguf"), Rtn(groupSize)));
        Assert.Contains("--group-size 32", e.Message);
    }

    [Fact]
    public void ScalesThatAreNotFp16AreRefusedNotRounded()
    {
        var e = Assert.Throws<ArgumentException>(() => GgufExport.Write(Path.Combine(_dir, "s.gguf"), Rtn(32)));
        Assert.Contains("fp16", e.Message);
        Assert.Contains(nameof(GgufExport.WithHalfPrecisionScales), e.Message);
    }

    [Fact]
    public void ModelWithAnOnlineHadamardIsRefusedAndSaysWhy()
    {
        var rotated = GgufExport.WithHalfPrecisionScales(Rtn(32, rotate: true));
        Assert.NotEqual(0, rotated.Quantization!.FfnHadamardBlock);
        var e = Assert.Throws<ArgumentException>(() => GgufExport.Write(Path.Combine(_dir, "r.gguf"), rotated));
        Assert.Contains("Hadamard", e.Message);
        Assert.Contains("llama.cpp", e.Message);
        Assert.False(File.Exists(Path.Combine(_dir, "r.gguf")));
    }
}
