using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Model;

namespace QSpec.Inference;

/// <summary>
/// A model resident on a backend: one copy of the weights (INT4 and/or float32), immutable and shared by every
/// session created from it. Thread-safe to share; each session is used by one thread at a time.
/// </summary>
public sealed class LlamaModel : IDisposable
{
    private readonly bool _ownsBackend;
    private bool _disposed;

    private LlamaModel(LlamaWeights weights, IBackend backend, bool ownsBackend)
    {
        Weights = weights;
        Backend = backend;
        _ownsBackend = ownsBackend;
        var c = weights.Config;
        Embedding = Upload(weights.TokenEmbedding);
        FinalNorm = Upload(weights.FinalNorm);
        Layers = weights.Layers.Select(l => new DeviceLayer(
            Upload(l.AttentionNorm), Matrix(l.Wq), Matrix(l.Wk), Matrix(l.Wv), Matrix(l.Wo),
            Upload(l.FfnNorm), Matrix(l.W1), Matrix(l.W2), Matrix(l.W3))).ToArray();
        Classifier = Matrix(weights.Classifier);
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

    /// <summary>Loads a llama2.c checkpoint onto <paramref name="backend"/>.</summary>
    public static LlamaModel Load(string path, IBackend? backend = null) => Create(Llama2cReader.Read(path), backend);

    /// <summary>The host weights this model was made from.</summary>
    public LlamaWeights Weights { get; }
    /// <summary>The model shape.</summary>
    public LlamaConfig Config => Weights.Config;
    /// <summary>The backend that holds the weights and runs the ops.</summary>
    public IBackend Backend { get; }

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
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown execution mode.");
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

    private DeviceBuffer Upload(float[] data)
    {
        var b = Backend.Allocate(data.Length);
        Backend.Upload(data, b);
        return b;
    }

    private DeviceMatrix Matrix(LinearWeight w) => Backend.CreateMatrix(w.Int4, w.Dense, w.Rows, w.Columns);
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
