using System.Buffers.Binary;
using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Formats;
using QSpec.Model;
using QSpec.Model.Gguf;
using QSpec.Speculative;
using QSpec.Core.Tests.Tokenization;

namespace QSpec.Core.Tests.Model;

/// <summary>GGUF files written by llama.cpp's own tools (../shared/models/stories260K), read as this library's models.</summary>
public class GgufReaderTests
{
    public static string F32Gguf => SharedData.PathOf("models", "stories260K", "stories260K-f32.gguf");
    public static string MixedGguf => SharedData.PathOf("models", "stories260K", "stories260K-q4_0-mixed.gguf");
    private static readonly ModelLoadOptions Cpu512 = new() { Backend = BackendKind.Cpu, ContextLength = 512 };

    [Fact]
    public void F32GgufIsDetectedByContentAndReadsItsHyperparameters()
    {
        Assert.Equal(ModelFormat.Gguf, ModelFiles.Detect(F32Gguf));
        var c = ModelFiles.Read(F32Gguf).Weights.Config;
        Assert.Equal(new LlamaConfig(64, 172, 5, 8, 4, 512, 128, SharedClassifier: false, RopeTheta: 10000f, NormEps: 1e-5f), c);
    }

    [Fact]
    public void F32GgufLogitsAreBitwiseEqualToTheLlama2cCheckpoint()
    {
        using var gguf = LlamaModel.Load(F32Gguf, Cpu512);
        using var bin = LlamaModel.Create(TestData.Stories260K);
        Assert.Equal(ModelLoadTests.Logits(bin, 40), ModelLoadTests.Logits(gguf, 40));
    }

    [Fact]
    public void F32GgufGreedyFromBosEqualsExpected256()
    {
        using var model = LlamaModel.Load(F32Gguf, Cpu512);
        using var session = model.CreateSession();
        var ids = new Generator(session).Generate([TestData.Bos], new GenerationOptions { MaxTokens = 256, Mode = ExecutionMode.Fp32 }).ToArray();
        Assert.Equal(TestData.Expected.Ids, ids);
    }

    [Fact]
    public void GgufTokenizerEncodesAndDecodesAsTok512()
    {
        var fromGguf = ModelFiles.Read(F32Gguf).Tokenizer!;
        Assert.Equal(512, fromGguf.VocabularySize);
        Assert.Equal((1, 2), (fromGguf.BosId, fromGguf.EosId));
        foreach (var text in TokenizerFiles.Paragraphs(100).Concat(TokenizerFiles.TrickyTexts))
        {
            var ids = TokenizerFiles.Tok512.Encode(text, addBos: true);
            Assert.Equal(ids, fromGguf.Encode(text, addBos: true));
            Assert.Equal(TokenizerFiles.Tok512.Decode(ids), fromGguf.Decode(ids));
        }
    }

    [Fact]
    public void Q4_0TensorsLoadLosslesslyAsGroup32Int4()
    {
        var w = ModelFiles.Read(MixedGguf).Weights;
        var header = ReadHeader(MixedGguf);
        var bytes = File.ReadAllBytes(MixedGguf);
        foreach (var (name, weight) in Named(w))
        {
            var t = header.TensorsByName[name];
            Assert.Equal(32, weight.Int4!.GroupSize);
            if (t.Type == GgufTensorType.Q4_0)
                Assert.Equal(ReferenceQ4_0(bytes, header.DataStart + t.Offset, t.Elements), weight.Int4.Dequantize());
        }
        // The embedding (Q4_0 in the file) is kept as float32, dequantized exactly.
        var e = header.TensorsByName["token_embd.weight"];
        Assert.Equal(GgufTensorType.Q4_0, e.Type);
        Assert.Equal(ReferenceQ4_0(bytes, header.DataStart + e.Offset, e.Elements), w.TokenEmbedding);
    }

    [Fact]
    public void F32FfnDownTensorsOfAQ4_0FileAreRtnQuantizedToGroup32()
    {
        var w = ModelFiles.Read(MixedGguf).Weights;
        var header = ReadHeader(MixedGguf);
        var bytes = File.ReadAllBytes(MixedGguf);
        for (int i = 0; i < w.Config.Layers; i++)
        {
            var t = header.TensorsByName[$"blk.{i}.ffn_down.weight"];
            Assert.Equal(GgufTensorType.F32, t.Type);
            var dense = new float[t.Elements];
            for (int k = 0; k < dense.Length; k++) dense[k] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(header.DataStart + t.Offset) + 4 * k));
            var expected = Int4Matrix.Quantize(dense, 64, 172, 32);
            Assert.Null(w.Layers[i].W2.Dense);
            Assert.Equal(expected.Data, w.Layers[i].W2.Int4!.Data);
            Assert.Equal(expected.Scales, w.Layers[i].W2.Int4!.Scales);
        }
        Assert.Equal(new QuantizationInfo(GgufModelReader.QuantizationMethodName, 32, "none", 0), w.Quantization);
    }

    [Fact]
    public void W4A16AndQSpecRunOnTheQ4_0FileAndAgree()
    {
        using var model = LlamaModel.Load(MixedGguf, Cpu512);
        Assert.False(model.Supports(ExecutionMode.Fp32));
        var prompt = model.Tokenizer!.Encode("Once upon a time", addBos: true).ToArray();
        using var plain = model.CreateSession();
        var expected = new Generator(plain).Generate(prompt, new GenerationOptions { MaxTokens = 64, Mode = ExecutionMode.W4A16 }).ToArray();
        Assert.StartsWith("Once upon a time", model.Tokenizer.Decode([.. prompt, .. expected]));
        using var spec = model.CreateSession();
        var decoder = new SpeculativeDecoder(spec, new SpeculativeOptions { DraftLength = 3, MaxTokens = 64 });
        Assert.Equal(expected, decoder.Generate(prompt).ToArray());
    }

    internal static GgufHeader ReadHeader(string path)
    {
        using var s = File.OpenRead(path);
        return GgufHeader.Read(s, path);
    }

    private static IEnumerable<(string, LinearWeight)> Named(LlamaWeights w)
    {
        for (int i = 0; i < w.Layers.Count; i++)
        {
            var l = w.Layers[i]; var p = $"blk.{i}.";
            yield return (p + "attn_q.weight", l.Wq); yield return (p + "attn_k.weight", l.Wk); yield return (p + "attn_v.weight", l.Wv);
            yield return (p + "attn_output.weight", l.Wo); yield return (p + "ffn_gate.weight", l.W1); yield return (p + "ffn_down.weight", l.W2);
            yield return (p + "ffn_up.weight", l.W3);
        }
        yield return ("output.weight", w.Classifier);
    }

    /// <summary>Q4_0 decoded from the ggml spec: blocks of 32 values = fp16 d + 16 bytes; value j = (lo(qs[j]) − 8)·d, value j+16 = (hi(qs[j]) − 8)·d.</summary>
    private static float[] ReferenceQ4_0(byte[] file, long offset, long count)
    {
        var values = new float[count];
        for (long b = 0; b < count / 32; b++)
        {
            long at = offset + 18 * b;
            float d = (float)BitConverter.UInt16BitsToHalf((ushort)(file[at] | file[at + 1] << 8));
            for (int j = 0; j < 16; j++)
            {
                int q = file[at + 2 + j];
                values[32 * b + j] = ((q & 15) - 8) * d;
                values[32 * b + j + 16] = ((q >> 4) - 8) * d;
            }
        }
        return values;
    }
}
