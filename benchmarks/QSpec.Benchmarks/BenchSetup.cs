using QSpec.Kernels.Backends;
using QSpec.Kernels.Formats;

namespace QSpec.Benchmarks;

/// <summary>The linear-kernel modes compared by the benchmarks.</summary>
public enum LinearKind
{
    /// <summary>INT4 weights, float activations.</summary>
    W4A16,
    /// <summary>INT4 weights, per-token INT4 activations (quantize + integer linear).</summary>
    W4A4,
    /// <summary>INT4 weights, per-token INT8 activations (quantize + integer linear).</summary>
    W4A8,
}

/// <summary>Shapes, a random INT4 matrix and a ready-to-run linear op on a backend.</summary>
public sealed class LinearCase : IDisposable
{
    /// <summary>N×K shapes of the Llama projections benchmarked (stories-size up to Llama-2-7B).</summary>
    public static readonly (int N, int K)[] Shapes = [(768, 288), (256, 2048), (2048, 2048), (5632, 2048), (2048, 5632), (4096, 4096), (11008, 4096)];
    /// <summary>Batch sizes (tokens per call).</summary>
    public static readonly int[] Ms = [1, 2, 4, 8, 16, 32];
    /// <summary>Group size of the benchmark weights.</summary>
    public const int GroupSize = 128;
    /// <summary>
    /// Bytes of weight copies a case cycles through, so every call reads its weights from memory as a whole model's
    /// forward pass would: <see cref="ColdMemory.Bytes"/>, at least 256 MiB (eight times the 32 MiB L3 of the first
    /// development VMs) and twice the last-level cache where that is larger. At 96 MiB (before 4 Dec 2026) the Zen 5 VM
    /// timed one kernel at 168 % of its streaming read (w1/w3 W4A8, M = 1), i.e. partly from a cache the guest does not
    /// see; at 256 MiB, two runs read every M = 1 row at or below the stream.
    /// </summary>
    public static readonly long ColdBytes = ColdMemory.Bytes;

    private readonly IBackend _backend;
    private readonly WeightCopies _copies;
    private readonly bool _ownsCopies;
    private readonly DeviceBuffer _x, _y;
    private readonly QuantizedActivationBuffer _q;
    private readonly int _m, _bits;

    /// <summary>
    /// Builds random weights (random nibbles, every scale <paramref name="scale"/>) in enough copies to exceed
    /// <see cref="ColdBytes"/>, and random activations, for one case. An fp16 value as the scale (e.g. (float)(Half)0.01f)
    /// lets the CPU integer kernels read fp16 scales, as for a GGUF Q4_0 model.
    /// </summary>
    public LinearCase(IBackend backend, int n, int k, int m, LinearKind kind, int groupSize = GroupSize, float scale = 0.01f)
        : this(backend, new WeightCopies(backend, n, k, groupSize, scale), m, kind, ownsCopies: true) { }

    /// <summary>
    /// A case over <paramref name="copies"/>, shared with other cases of the same matrix on the same backend (the roofline
    /// table times every mode and M of a shape at once: one set of copies per group size, not one per case); the caller
    /// disposes the copies after the cases.
    /// </summary>
    public LinearCase(IBackend backend, WeightCopies copies, int m, LinearKind kind) : this(backend, copies, m, kind, ownsCopies: false) { }

    private LinearCase(IBackend backend, WeightCopies copies, int m, LinearKind kind, bool ownsCopies)
    {
        int n = copies.Matrix.Rows, k = copies.Matrix.Columns;
        _backend = backend; _m = m; Kind = kind; N = n; K = k;
        _bits = kind == LinearKind.W4A4 ? 4 : 8;
        _copies = copies; _ownsCopies = ownsCopies;
        Matrix = copies.Matrix;
        var rng = new Random(n ^ k ^ (m << 20));
        var x = new float[m * k];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        _x = backend.Allocate(x.Length);
        backend.Upload(x, _x);
        _y = backend.Allocate((long)m * n);
        _q = backend.AllocateQuantizedActivations(m, k);
        if (kind != LinearKind.W4A16) backend.QuantizeActivations(_x, m, k, _bits, _q);
    }

    /// <summary>The mode.</summary>
    public LinearKind Kind { get; }
    /// <summary>Output channels.</summary>
    public int N { get; }
    /// <summary>Input columns.</summary>
    public int K { get; }
    /// <summary>The weights.</summary>
    public Int4Matrix Matrix { get; }

    /// <summary>Runs the linear op alone (activations already quantized for the integer modes).</summary>
    public void Linear()
    {
        var w = _copies.Next();
        if (Kind == LinearKind.W4A16) _backend.LinearW4A16(_x, w, _y, _m);
        else _backend.LinearInt(_q, w, _y, _m);
        _backend.Synchronize();
    }

    /// <summary>
    /// The A/B kernels' weights: random nibbles, scales uniform in [0.005, 0.015) drawn from <paramref name="rng"/>, and
    /// copies of the first matrix (pinned) to exceed <see cref="ColdBytes"/>, or the first alone when <paramref name="hot"/>.
    /// </summary>
    public static Int4Matrix[] RandomCopies(int n, int k, int groupSize, bool hot, Random rng)
    {
        var w0 = Int4Matrix.CreateZero(n, k, groupSize);
        new Random(n ^ k).NextBytes(w0.Data);
        for (int i = 0; i < w0.Scales.Length; i++) w0.Scales[i] = 0.005f + 0.01f * (float)rng.NextDouble();
        return hot ? [w0] : ColdCopiesOf(w0);
    }

    /// <summary><paramref name="w0"/> followed by copies of it (pinned), together just over <see cref="ColdBytes"/>.</summary>
    internal static Int4Matrix[] ColdCopiesOf(Int4Matrix w0)
    {
        var ws = new Int4Matrix[(int)Math.Max(1, (ColdBytes + w0.SizeInBytes - 1) / w0.SizeInBytes)];
        ws[0] = w0;
        for (int i = 1; i < ws.Length; i++)
        {
            ws[i] = new Int4Matrix(w0.Rows, w0.Columns, w0.GroupSize, GC.AllocateArray<byte>(w0.Data.Length, pinned: true), (float[])w0.Scales.Clone());
            w0.Data.CopyTo(ws[i].Data, 0);
        }
        return ws;
    }

    /// <summary>
    /// Runs the op once on every weight copy, outside any timing: a CPU matrix builds its kernel's scale layout (tiled or
    /// block-major scales, a fresh array per copy) on its first use, so a timing that starts with untouched copies times
    /// those builds and their allocations too (integer rows read 2-4x slow in the roofline table until this was done).
    /// </summary>
    public void TouchEveryCopy()
    {
        for (int i = 0; i < _copies.Device.Length; i++) QuantizeAndLinear();
    }

    /// <summary>Runs what a layer runs: quantization (integer modes) then the linear op.</summary>
    public void QuantizeAndLinear()
    {
        if (Kind != LinearKind.W4A16) _backend.QuantizeActivations(_x, _m, K, _bits, _q);
        Linear();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsCopies) _copies.Dispose();
        _x.Dispose(); _y.Dispose(); _q.Dispose();
    }
}

/// <summary>
/// One random INT4 matrix (random nibbles, every scale the same value) and, on a backend, enough copies of it to exceed
/// <see cref="LinearCase.ColdBytes"/>, cycled by the <see cref="LinearCase"/>s that use them so that every call reads
/// its weights from memory.
/// </summary>
public sealed class WeightCopies : IDisposable
{
    /// <summary>Builds the matrix and its copies (pinned) on <paramref name="backend"/>; <paramref name="hot"/>: the matrix alone (a warm-up needs no cold copies).</summary>
    public WeightCopies(IBackend backend, int n, int k, int groupSize = LinearCase.GroupSize, float scale = 0.01f, bool hot = false)
    {
        var w = Int4Matrix.CreateZero(n, k, groupSize);
        new Random(n ^ k).NextBytes(w.Data);
        w.Scales.AsSpan().Fill(scale);
        Matrix = w;
        Device = (hot ? [w] : LinearCase.ColdCopiesOf(w)).Select(copy => backend.CreateMatrix(copy, null, n, k)).ToArray();
    }

    /// <summary>The first matrix (every copy holds the same values).</summary>
    public Int4Matrix Matrix { get; }

    /// <summary>The copies on the backend, the first being <see cref="Matrix"/>.</summary>
    public DeviceMatrix[] Device { get; }

    private int _next;

    /// <summary>
    /// The copy after the one returned last, for any of the cases sharing this set: a call then never finds the weights
    /// another case read recently in a cache, as two cases cycling the same copies on their own could.
    /// </summary>
    public DeviceMatrix Next()
    {
        var w = Device[_next];
        _next = (_next + 1) % Device.Length;
        return w;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var w in Device) w.Dispose();
    }
}
