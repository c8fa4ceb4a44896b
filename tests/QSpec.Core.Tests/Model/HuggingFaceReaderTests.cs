using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Model;
using QSpec.Model.HuggingFace;
using QSpec.Core.Tests.Tokenization;

namespace QSpec.Core.Tests.Model;

/// <summary>../shared/models/stories260K-hf: the same weights as stories260K.bin in the Hugging Face layout (rotate_half q/k rows).</summary>
public class HuggingFaceReaderTests
{
    public static string Folder => SharedData.PathOf("models", "stories260K-hf");
    private static readonly ModelLoadOptions Cpu = new() { Backend = BackendKind.Cpu };

    [Fact]
    public void FolderIsDetectedAndItsConfigRead()
    {
        Assert.Equal(ModelFormat.HuggingFaceFolder, ModelFiles.Detect(Folder));
        Assert.Equal(ModelFormat.HuggingFaceFolder, ModelFiles.Detect(Path.Combine(Folder, "model.safetensors")));
        var contents = ModelFiles.Read(Folder);
        Assert.Equal(TestData.Stories260K.Config, contents.Weights.Config);
        Assert.Null(contents.ChatTemplate);
        Assert.Equal(512, contents.Tokenizer!.VocabularySize);
    }

    [Fact]
    public void QkRowsAreUnpermutedToTheLlama2cOrder()
    {
        var hf = ModelFiles.Read(Folder).Weights;
        for (int i = 0; i < hf.Config.Layers; i++)
        {
            Assert.Equal(TestData.Stories260K.Layers[i].Wq.Dense, hf.Layers[i].Wq.Dense);
            Assert.Equal(TestData.Stories260K.Layers[i].Wk.Dense, hf.Layers[i].Wk.Dense);
            Assert.Equal(TestData.Stories260K.Layers[i].W2.Dense, hf.Layers[i].W2.Dense);
        }
    }

    [Theory]
    [InlineData(2, 4)]
    [InlineData(3, 6)]
    [InlineData(1, 2)]
    public void RotateHalfPermutationRoundTrips(int heads, int headSize)
    {
        int cols = 3;
        var x = Enumerable.Range(0, heads * headSize * cols).Select(i => (float)i).ToArray();
        var hf = HuggingFaceReader.ToRotateHalf(x, heads, headSize, cols);
        if (headSize > 2) Assert.NotEqual(x, hf); // with two columns per head both orders coincide
        Assert.Equal(x, HuggingFaceReader.FromRotateHalf(hf, heads, headSize, cols));
        // HF row (head h, half j, index i) = interleaved row h*hd + 2i + j.
        int half = headSize / 2;
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < half; i++)
                    Assert.Equal(x[(h * headSize + 2 * i + j) * cols], hf[(h * headSize + j * half + i) * cols]);
    }

    [Fact]
    public void GreedyFromBosEqualsExpected256()
    {
        using var model = LlamaModel.Load(Folder, Cpu);
        using var session = model.CreateSession();
        var ids = new Generator(session).Generate([TestData.Bos], new GenerationOptions { MaxTokens = 256, Mode = ExecutionMode.Fp32 }).ToArray();
        Assert.Equal(TestData.Expected.Ids, ids);
    }

    [Fact]
    public void PromptedRunsEqualTheLlama2cFiles()
    {
        using var hf = LlamaModel.Load(Folder, Cpu);
        using var bin = LlamaModel.Create(TestData.Stories260K);
        Assert.Equal(ModelLoadTests.Logits(bin, 30), ModelLoadTests.Logits(hf, 30));
        foreach (var paragraph in TokenizerFiles.Paragraphs(12))
        {
            var prompt = TokenizerFiles.Tok512.Encode(string.Join(' ', paragraph.Split(' ').Take(6)), addBos: true).ToArray();
            int[] Run(LlamaModel m)
            {
                using var s = m.CreateSession();
                return new Generator(s).Generate(prompt, new GenerationOptions { MaxTokens = 40, Mode = ExecutionMode.Fp32 }).ToArray();
            }
            Assert.Equal(Run(bin), Run(hf));
        }
    }

    [Fact]
    public void SentencePieceTokenizerOfTheFolderEncodesPlainProseAsTok512()
    {
        var tokenizer = ModelFiles.Read(Folder).Tokenizer!;
        foreach (var p in new[] { "Once upon a time, there was a little girl named Lily.", "The dog ran to the park and saw a big red ball." })
            Assert.Equal(TokenizerFiles.Tok512.Encode(p, addBos: true), tokenizer.Encode(p, addBos: true));
    }
}
