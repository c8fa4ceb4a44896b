using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Model;

namespace QSpec.Core.Tests.Model;

/// <summary>The one entry point: format detection by content, tokenizer discovery, the embedded default model.</summary>
public sealed class ModelLoadTests : IDisposable
{
    private static readonly ModelLoadOptions Cpu = new() { Backend = BackendKind.Cpu };
    private readonly string _dir = Directory.CreateTempSubdirectory("qspec-load-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Logits of the first <paramref name="steps"/> expected-greedy positions, in Fp32.</summary>
    internal static float[] Logits(LlamaModel model, int steps = 12)
    {
        using var session = model.CreateSession();
        int[] tokens = [TestData.Bos, .. TestData.Expected.Ids[..(steps - 1)]];
        return session.Forward(tokens, 0, ExecutionMode.Fp32);
    }

    [Fact]
    public void Llama2cCheckpointLoadsWithTheTokenizerBesideIt()
    {
        using var model = LlamaModel.Load(SharedData.DefaultModel, Cpu);
        Assert.NotNull(model.Tokenizer);
        Assert.Equal(512, model.Tokenizer!.VocabularySize);
        Assert.Null(model.ChatTemplate);
        using var reference = LlamaModel.Create(TestData.Stories260K);
        Assert.Equal(Logits(reference), Logits(model));
    }

    [Fact]
    public void DefaultModelIsEmbeddedAndEqualsTheSharedFile()
    {
        using var model = LlamaModel.LoadDefault(Cpu);
        Assert.Equal(512, model.Tokenizer!.VocabularySize);
        Assert.Equal(File.ReadAllBytes(SharedData.DefaultTokenizer), model.Tokenizer.SourceBytes);
        using var reference = LlamaModel.Create(TestData.Stories260K);
        Assert.Equal(Logits(reference), Logits(model));
    }

    [Fact]
    public async Task LoadAsyncReportsProgressToOne()
    {
        var seen = new List<double>();
        using var model = await LlamaModel.LoadAsync(SharedData.DefaultModel, Cpu, new SyncProgress(seen.Add));
        Assert.NotEmpty(seen);
        Assert.Equal(1.0, seen[^1]);
        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.First <= p.Second), string.Join(", ", seen));
    }

    [Fact]
    public async Task LoadAsyncHonoursCancellation()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => LlamaModel.LoadAsync(SharedData.DefaultModel, Cpu, null, cts.Token));
    }

    [Fact]
    public void ExplicitTokenizerPathReplacesTheModelsOwn()
    {
        var copy = Path.Combine(_dir, "model.bin");
        File.Copy(SharedData.DefaultModel, copy);
        using (var bare = LlamaModel.Load(copy, Cpu)) Assert.Null(bare.Tokenizer);
        using var model = LlamaModel.Load(copy, new ModelLoadOptions { Backend = BackendKind.Cpu, TokenizerPath = SharedData.DefaultTokenizer });
        Assert.Equal(512, model.Tokenizer!.VocabularySize);
    }

    [Fact]
    public void ContextLengthOverridesTheFile()
    {
        using var model = LlamaModel.Load(SharedData.DefaultModel, new ModelLoadOptions { Backend = BackendKind.Cpu, ContextLength = 64 });
        Assert.Equal(64, model.Config.SeqLen);
    }

    [Theory]
    [InlineData("text", "not a model at all, just some words")]
    [InlineData("zeros", "")]
    public void UnknownContentNamesTheFileAndWhatWasSeen(string name, string content)
    {
        var path = Path.Combine(_dir, name + ".bin");
        File.WriteAllBytes(path, content.Length == 0 ? new byte[64] : System.Text.Encoding.ASCII.GetBytes(content));
        var e = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(path, Cpu));
        Assert.Contains(path, e.Message);
        Assert.Contains("first bytes", e.Message);
    }

    [Fact]
    public void FolderWithoutConfigJsonIsRejected()
    {
        var e = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(_dir, Cpu));
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void MissingFileThrowsFileNotFound()
        => Assert.Throws<FileNotFoundException>(() => LlamaModel.Load(Path.Combine(_dir, "nope.gguf"), Cpu));

    [Fact]
    public void QSpecFileIsRecognisedByContentWhateverItsName()
    {
        var path = Path.Combine(_dir, "quantized.bin");
        var quantized = QSpec.Quantization.ModelQuantizer.Quantize(TestData.Stories260K,
            new QSpec.Quantization.QuantizerOptions { Method = QSpec.Quantization.QuantizationMethod.Rtn, GroupSize = 32, ClipSearch = false }, null);
        QSpecFile.Write(path, quantized, File.ReadAllBytes(SharedData.DefaultTokenizer));
        Assert.Equal(ModelFormat.QSpec, ModelFiles.Detect(path));
        using var model = LlamaModel.Load(path, Cpu);
        Assert.Equal(512, model.Tokenizer!.VocabularySize);
        Assert.True(model.Supports(ExecutionMode.W4A16));
    }

    /// <summary>IProgress without a synchronization context hop, so the list is complete when the load returns.</summary>
    private sealed class SyncProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
