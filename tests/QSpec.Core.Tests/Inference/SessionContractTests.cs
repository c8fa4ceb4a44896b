using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Model;
using QSpec.Speculative;

namespace QSpec.Core.Tests.Inference;

/// <summary>Disposal, one-generation-at-a-time, context length and allocation-failure contracts of sessions.</summary>
public sealed class SessionContractTests
{
    [Fact]
    public void SessionOfADisposedModelThrowsObjectDisposed()
    {
        var model = TestData.CreateModel();
        using var session = model.CreateSession();
        session.Forward([TestData.Bos], 0, ExecutionMode.Fp32);
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => session.Forward([TestData.Bos], 0, ExecutionMode.Fp32));
        Assert.Throws<ObjectDisposedException>(() => session.Prefill([TestData.Bos], 0, ExecutionMode.Fp32));
        Assert.Throws<ObjectDisposedException>(() => session.Argmax());
        Assert.Throws<ObjectDisposedException>(() => session.GetLogits(new float[model.Config.VocabSize]));
        Assert.Throws<ObjectDisposedException>(() => session.Reset());
        Assert.Throws<ObjectDisposedException>(() => new Generator(session).Generate([TestData.Bos], new GenerationOptions()));
        Assert.Throws<ObjectDisposedException>(() => model.CreateSession());
    }

    [Fact]
    public void ResetAndTruncateOnADisposedSessionThrow()
    {
        using var model = TestData.CreateModel();
        var session = model.CreateSession();
        session.Forward([TestData.Bos, 403], 0, ExecutionMode.Fp32);
        session.Dispose();
        Assert.Throws<ObjectDisposedException>(() => session.Reset());
        Assert.Throws<ObjectDisposedException>(() => session.Cache.Truncate(1));
        Assert.Throws<ObjectDisposedException>(() => session.Argmax());
    }

    [Fact]
    public void SpeculativeDecoderRejectsADisposedSession()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        var session = model.CreateSession();
        session.Dispose();
        Assert.Throws<ObjectDisposedException>(() => new SpeculativeDecoder(session, new SpeculativeOptions()));
    }

    [Fact]
    public void TwoGeneratorsInterleavedOnOneSessionThrow()
    {
        using var model = TestData.CreateModel();
        using var session = model.CreateSession();
        var options = new GenerationOptions { MaxTokens = 20 };
        using var first = new Generator(session).Generate([TestData.Bos], options).GetEnumerator();
        Assert.True(first.MoveNext());
        using var second = new Generator(session).Generate([TestData.Bos, 403], options).GetEnumerator();
        Assert.True(second.MoveNext());
        Assert.Throws<InvalidOperationException>(() => first.MoveNext());
        // The later generation owns the session and is unharmed.
        var rest = new List<int> { second.Current };
        while (second.MoveNext()) rest.Add(second.Current);
        using var fresh = model.CreateSession();
        Assert.Equal(new Generator(fresh).Generate([TestData.Bos, 403], options).ToArray(), rest);
    }

    [Fact]
    public void SpeculativeDecoderInterleavedWithAGeneratorThrows()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        using var session = model.CreateSession();
        using var spec = new SpeculativeDecoder(session, new SpeculativeOptions { MaxTokens = 40 }).Generate([TestData.Bos]).GetEnumerator();
        Assert.True(spec.MoveNext());
        while (spec.MoveNext() && spec.Current >= 0 && session.Length < 3) { } // finish the first step's tokens
        using var plain = new Generator(session).Generate([TestData.Bos], new GenerationOptions { MaxTokens = 5 }).GetEnumerator();
        Assert.True(plain.MoveNext());
        Assert.Throws<InvalidOperationException>(() => { while (spec.MoveNext()) { } });
    }

    [Fact]
    public void ContextLengthDefaultsToTheSmallerOfTheModelMaximumAnd4096()
    {
        using var small = TestData.CreateModel();
        using var s = small.CreateSession();
        Assert.Equal(512, s.ContextLength);

        // A model whose file claims a 2^20 context: the cache is sized by the default, not by the claim.
        var w = Quantization.SyntheticModel.Create(layers: 1);
        var huge = new LlamaWeights(w.Config with { SeqLen = 1 << 20 }, w.TokenEmbedding, w.Layers, w.FinalNorm, w.Classifier);
        using var model = LlamaModel.Create(huge);
        using var session = model.CreateSession();
        Assert.Equal(SessionOptions.DefaultContextLength, session.ContextLength);
        Assert.Equal(2L * 1 * 4096 * model.Config.KvDim * sizeof(float), session.Cache.SizeInBytes);
        using var longer = model.CreateSession(new SessionOptions { ContextLength = 8192 });
        Assert.Equal(8192, longer.Cache.Capacity);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    [InlineData(513)]
    public void ContextLengthOutOfRangeThrowsNamingIt(int length)
    {
        using var model = TestData.CreateModel();
        var e = Assert.ThrowsAny<ArgumentOutOfRangeException>(() => model.CreateSession(new SessionOptions { ContextLength = length }));
        Assert.Equal("ContextLength", e.ParamName);
    }

    [Fact]
    public void ShortContextGivesTheSameTokensAndBoundsPositions()
    {
        using var model = TestData.CreateModel();
        using var session = model.CreateSession(new SessionOptions { ContextLength = 41 });
        var tokens = new Generator(session).Generate([TestData.Bos], new GenerationOptions { MaxTokens = 40 }).ToArray();
        Assert.Equal(TestData.Expected.Ids[..40], tokens);
        // Asking for more stops when the session's context is full, not at the model's 512.
        var generator = new Generator(session);
        var more = generator.Generate([TestData.Bos], new GenerationOptions { MaxTokens = 100 }).ToArray();
        Assert.Equal(FinishReason.ContextFull, generator.FinishReason);
        Assert.Equal(TestData.Expected.Ids[..more.Length], more);
        Assert.InRange(more.Length, 40, 41);
        Assert.Throws<ArgumentException>(() => generator.Generate(new int[42], new GenerationOptions()));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward(new int[42], 0, ExecutionMode.Fp32));
    }

    [Fact]
    public void NullPromptInABatchNamesItsIndex()
    {
        using var model = LlamaModel.Create(TestData.Stories260KInt4);
        var e = Assert.Throws<ArgumentNullException>(() => BatchGenerator.Generate(model, [[TestData.Bos], null!], new GenerationOptions { MaxTokens = 4 }));
        Assert.Equal("prompts[1]", e.ParamName);
        e = Assert.Throws<ArgumentNullException>(() => BatchGenerator.Generate(model, [null!], new SpeculativeOptions { MaxTokens = 4 }));
        Assert.Equal("prompts[0]", e.ParamName);
        var r = Assert.Throws<ArgumentOutOfRangeException>(() => BatchGenerator.Generate(model, [[TestData.Bos, 512]], new SpeculativeOptions { MaxTokens = 4 }));
        Assert.Equal("prompts[0]", r.ParamName);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BatchFreesEveryCacheWhenScratchAllocationFails(bool speculative)
    {
        using var failing = new FailingBackend(new CpuBackend());
        using var model = LlamaModel.Create(TestData.Stories260KInt4, failing);
        failing.Armed = true;
        int[][] prompts = [[TestData.Bos], [TestData.Bos, 403], [TestData.Bos, 407]];
        Assert.Throws<OutOfMemoryException>(() =>
        {
            if (speculative) BatchGenerator.Generate(model, prompts, new SpeculativeOptions { MaxTokens = 4 });
            else BatchGenerator.Generate(model, prompts, new GenerationOptions { MaxTokens = 4 });
        });
        Assert.True(failing.Made.Count >= 2 * prompts.Length, $"only {failing.Made.Count} buffers were made before the failure");
        Assert.All(failing.Made, b => Assert.True(b.IsDisposed));
        Assert.Throws<OutOfMemoryException>(() => model.CreateSession());
        Assert.All(failing.Made, b => Assert.True(b.IsDisposed));
    }

    /// <summary>Forwards to a real backend; once armed, records every buffer it allocates and fails the quantized-activation one.</summary>
    private sealed class FailingBackend(IBackend inner) : IBackend
    {
        public bool Armed { get; set; }
        public List<DeviceBuffer> Made { get; } = [];
        private T Keep<T>(T b) where T : DeviceBuffer { if (Armed) Made.Add(b); return b; }

        public string Name => inner.Name;
        public DeviceBuffer Allocate(long length) => Keep(inner.Allocate(length));
        public DeviceBuffer AllocateKv(long length, KvPrecision precision) => Keep(inner.AllocateKv(length, precision));
        public QuantizedActivationBuffer AllocateQuantizedActivations(int maxRows, int maxColumns) =>
            Armed ? throw new OutOfMemoryException("test: scratch allocation fails") : inner.AllocateQuantizedActivations(maxRows, maxColumns);
        public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long offset = 0) => inner.Upload(source, destination, offset);
        public void Download(DeviceBuffer source, Span<float> destination, long offset = 0) => inner.Download(source, destination, offset);
        public DeviceMatrix CreateMatrix(Kernels.Formats.Int4Matrix? int4, float[]? dense, int rows, int columns) => inner.CreateMatrix(int4, dense, rows, columns);
        public void Synchronize() => inner.Synchronize();
        public void Embedding(DeviceBuffer table, ReadOnlySpan<int> tokens, int dim, DeviceBuffer x) => inner.Embedding(table, tokens, dim, x);
        public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps) => inner.RmsNorm(x, weight, y, rows, dim, eps);
        public void LinearF32(DeviceBuffer x, DeviceMatrix w, DeviceBuffer y, int rows) => inner.LinearF32(x, w, y, rows);
        public void LinearW4A16(DeviceBuffer x, DeviceMatrix w, DeviceBuffer y, int rows) => inner.LinearW4A16(x, w, y, rows);
        public void QuantizeActivations(DeviceBuffer x, int rows, int columns, int bits, QuantizedActivationBuffer q) => inner.QuantizeActivations(x, rows, columns, bits, q);
        public void LinearInt(QuantizedActivationBuffer q, DeviceMatrix w, DeviceBuffer y, int rows) => inner.LinearInt(q, w, y, rows);
        public void Hadamard(DeviceBuffer x, int rows, int dim, int blockSize) => inner.Hadamard(x, rows, dim, blockSize);
        public void Rope(DeviceBuffer x, int rows, int heads, int headSize, ReadOnlySpan<int> positions, float theta) => inner.Rope(x, rows, heads, headSize, positions, theta);
        public void StoreKv(DeviceBuffer k, DeviceBuffer v, int rowOffset, int rows, int kvDim, DeviceBuffer keyCache, DeviceBuffer valueCache, long layerOffset, int start) =>
            inner.StoreKv(k, v, rowOffset, rows, kvDim, keyCache, valueCache, layerOffset, start);
        public void Attention(DeviceBuffer q, int rowOffset, int rows, int heads, int kvHeads, int headSize, DeviceBuffer keyCache, DeviceBuffer valueCache, long layerOffset, int start, DeviceBuffer output) =>
            inner.Attention(q, rowOffset, rows, heads, kvHeads, headSize, keyCache, valueCache, layerOffset, start, output);
        public void SwiGlu(DeviceBuffer gate, DeviceBuffer up, long length) => inner.SwiGlu(gate, up, length);
        public void Add(DeviceBuffer x, DeviceBuffer delta, long length) => inner.Add(x, delta, length);
        public int Argmax(DeviceBuffer x, long offset, int length) => inner.Argmax(x, offset, length);
        public void Dispose() => inner.Dispose();
    }
}
