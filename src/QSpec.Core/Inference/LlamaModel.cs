using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Model;
using QSpec.Tokenization;

namespace QSpec.Inference;

/// <summary>
/// A model resident on a backend: one copy of the weights (INT4 and/or float32), immutable and shared by every
/// session created from it. Thread-safe to share; each session is used by one thread at a time.
/// </summary>
public sealed class LlamaModel : IDisposable
{
    private readonly bool _ownsBackend;
    private bool _disposed;

    private LlamaModel(LlamaWeights weights, IBackend backend, bool ownsBackend,
                       LlamaTextTokenizer? tokenizer = null, string? chatTemplate = null)
    {
        Weights = weights;
        Tokenizer = tokenizer;
        ChatTemplate = chatTemplate;
        Backend = backend;
        _ownsBackend = ownsBackend;
        var c = weights.Config;
        try
        {
            Embedding = Upload(weights.TokenEmbedding);
            FinalNorm = Upload(weights.FinalNorm);
            Layers = weights.Layers.Select(l => new DeviceLayer(
                Upload(l.AttentionNorm), Matrix(l.Wq), Matrix(l.Wk), Matrix(l.Wv), Matrix(l.Wo),
                Upload(l.FfnNorm), Matrix(l.W1), Matrix(l.W2), Matrix(l.W3))).ToArray();
            Classifier = Matrix(weights.Classifier);
        }
        catch
        {
            // e.g. the weights do not fit in device memory: free what was uploaded (the backend may be the caller's).
            foreach (var d in _uploading) d.Dispose();
            throw;
        }
        _uploading.Clear();
        FfnHadamardBlock = weights.Quantization?.FfnHadamardBlock ?? 0;
        if (FfnHadamardBlock != 0 && c.HiddenDim % FfnHadamardBlock != 0)
            throw new ArgumentException($"FfnHadamardBlock {FfnHadamardBlock} does not divide hidden_dim {c.HiddenDim}.", nameof(weights));
    }

    /// <summary>Puts <paramref name="weights"/> on <paramref name="backend"/> (a new CPU backend when null, owned by the model).</summary>
    public static LlamaModel Create(LlamaWeights weights, IBackend? backend = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return new LlamaModel(weights, backend ?? new CpuBackend(), backend is null);
    }

    /// <summary>
    /// Puts <paramref name="weights"/> on a new backend of the given kind, owned (and disposed) by the model:
    /// <see cref="BackendKind.Auto"/> is CUDA when a GPU is present, else the CPU SIMD backend.
    /// </summary>
    /// <exception cref="InvalidOperationException">CUDA was asked for and no CUDA device exists (the message lists the accelerators found).</exception>
    public static LlamaModel Create(LlamaWeights weights, BackendKind kind)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var backend = BackendFactory.Create(kind);
        try { return new LlamaModel(weights, backend, ownsBackend: true); }
        catch { backend.Dispose(); throw; }
    }

    /// <summary>
    /// Loads the model at <paramref name="path"/>, recognising the format by content (see <see cref="ModelFiles.Detect"/>):
    /// GGUF, a Hugging Face folder (config.json + safetensors), .qspec, or a llama2.c checkpoint; with its tokenizer and
    /// chat template when the file or folder has them.
    /// </summary>
    /// <exception cref="FileNotFoundException">The model or the tokenizer does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is malformed or its format unsupported; the message names the file and what was seen.</exception>
    /// <exception cref="InvalidOperationException">The backend asked for is not available (e.g. CUDA without a GPU).</exception>
    public static LlamaModel Load(string path, ModelLoadOptions? options = null)
        => Load(path, options, null, CancellationToken.None);

    /// <summary>
    /// <see cref="Load(string, ModelLoadOptions?)"/> on a worker thread, reporting progress in [0, 1] as tensors are read
    /// and uploaded, and stopping between tensors when <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public static Task<LlamaModel> LoadAsync(string path, ModelLoadOptions? options = null,
        IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options?.Validate();
        return Task.Run(() => Load(path, options, progress is null ? null : progress.Report, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Loads the default model shipped in the QSpec.Models.Stories260K package: Karpathy's stories260K (llama2.c fp32,
    /// 260K parameters, MIT) with its 512-token tokenizer. Needs no file on disk.
    /// </summary>
    /// <exception cref="InvalidOperationException">The QSpec.Models.Stories260K assembly is not deployed with the application.</exception>
    public static LlamaModel LoadDefault(ModelLoadOptions? options = null)
    {
        options?.Validate();
        var contents = DefaultModel.Read(options?.TokenizerPath);
        return FromContents(contents, options ?? new ModelLoadOptions(), null);
    }

    private static LlamaModel Load(string path, ModelLoadOptions? options, Action<double>? progress, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options ??= new ModelLoadOptions();
        options.Validate();
        var contents = ModelFiles.Read(path, options.TokenizerPath, progress is null ? null : p => progress(0.9 * p), cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        var model = FromContents(contents, options, progress);
        return model;
    }

    private static LlamaModel FromContents(ModelFileContents contents, ModelLoadOptions options, Action<double>? progress)
    {
        var weights = options.ContextLength is int n ? contents.Weights.WithContextLength(n) : contents.Weights;
        var backend = options.BackendInstance ?? BackendFactory.Create(options.Backend);
        try
        {
            var model = new LlamaModel(weights, backend, ownsBackend: options.BackendInstance is null, contents.Tokenizer, contents.ChatTemplate);
            progress?.Invoke(1.0);
            return model;
        }
        catch
        {
            if (options.BackendInstance is null) backend.Dispose();
            throw;
        }
    }

    /// <summary>The host weights this model was made from.</summary>
    public LlamaWeights Weights { get; }
    /// <summary>The model shape.</summary>
    public LlamaConfig Config => Weights.Config;
    /// <summary>The backend that holds the weights and runs the ops.</summary>
    public IBackend Backend { get; }
    /// <summary>
    /// The tokenizer that came with the model (GGUF metadata, .qspec embedded, Hugging Face tokenizer.model, a tokenizer
    /// file beside a llama2.c checkpoint) or <see cref="ModelLoadOptions.TokenizerPath"/>; null when there is none or the
    /// model was made with <see cref="Create(LlamaWeights, IBackend?)"/>.
    /// </summary>
    public LlamaTextTokenizer? Tokenizer { get; }
    /// <summary>The Jinja chat template of the model (GGUF <c>tokenizer.chat_template</c>, tokenizer_config.json <c>chat_template</c>), or null.</summary>
    public string? ChatTemplate { get; }

    internal DeviceBuffer Embedding { get; }
    internal DeviceBuffer FinalNorm { get; }
    internal DeviceLayer[] Layers { get; }
    internal DeviceMatrix Classifier { get; }
    internal int FfnHadamardBlock { get; }

    /// <summary>True when <paramref name="mode"/> can run on these weights.</summary>
    public bool Supports(ExecutionMode mode) => mode == ExecutionMode.Fp32 ? Weights.HasDense : Weights.HasInt4;

    /// <summary>The mode to run when the caller names none: W4A16 when every linear layer has INT4 weights, else Fp32.</summary>
    public ExecutionMode PreferredMode => Supports(ExecutionMode.W4A16) ? ExecutionMode.W4A16 : ExecutionMode.Fp32;

    /// <summary>Throws <see cref="ArgumentException"/> when the model lacks the weights <paramref name="mode"/> needs.</summary>
    public void EnsureSupports(ExecutionMode mode)
    {
        // The values listed, not Enum.IsDefined: this runs on every forward, and Enum.IsDefined reads the enum's names and
        // values from the type's reflection cache, which the runtime holds weakly, so under memory pressure a GC drops it
        // and the next call rebuilds it: a 248-byte allocation in a decode step (DecodeAllocationTests, under a parallel allocator).
        if (mode is not (ExecutionMode.Fp32 or ExecutionMode.W4A16 or ExecutionMode.W4A4 or ExecutionMode.W4A8)) throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown execution mode.");
        if (!Supports(mode))
            throw new ArgumentException(mode == ExecutionMode.Fp32
                ? "Mode Fp32 needs float32 weights; this model holds INT4 weights only."
                : $"Mode {mode} needs INT4 weights; quantize the model first (qspec quantize).", nameof(mode));
    }

    /// <summary>Starts a session: its own KV cache (<see cref="SessionOptions.ContextLength"/> positions) and scratch, sharing these weights.</summary>
    /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
    /// <exception cref="ArgumentException">An option is invalid for this model.</exception>
    public InferenceSession CreateSession(SessionOptions? options = null)
    {
        ThrowIfDisposed();
        return new InferenceSession(this, options ?? new SessionOptions());
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> once the model is disposed (its sessions check it too).</summary>
    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Embedding.Dispose(); FinalNorm.Dispose(); Classifier.Dispose();
        foreach (var l in Layers) l.Dispose();
        if (_ownsBackend) Backend.Dispose();
    }

    private readonly List<IDisposable> _uploading = []; // device handles made so far by the constructor

    private DeviceBuffer Upload(float[] data)
    {
        var b = Backend.Allocate(data.Length);
        _uploading.Add(b);
        Backend.Upload(data, b);
        return b;
    }

    private DeviceMatrix Matrix(LinearWeight w)
    {
        var m = Backend.CreateMatrix(w.Int4, w.Dense, w.Rows, w.Columns);
        _uploading.Add(m);
        return m;
    }
}

/// <summary>One block's weights on the backend.</summary>
internal sealed record DeviceLayer(
    DeviceBuffer AttentionNorm, DeviceMatrix Wq, DeviceMatrix Wk, DeviceMatrix Wv, DeviceMatrix Wo,
    DeviceBuffer FfnNorm, DeviceMatrix W1, DeviceMatrix W2, DeviceMatrix W3) : IDisposable
{
    public void Dispose()
    {
        AttentionNorm.Dispose(); Wq.Dispose(); Wk.Dispose(); Wv.Dispose(); Wo.Dispose();
        FfnNorm.Dispose(); W1.Dispose(); W2.Dispose(); W3.Dispose();
    }
}
