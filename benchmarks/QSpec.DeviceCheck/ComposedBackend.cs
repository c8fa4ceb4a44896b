using QSpec.Kernels.Backends;
using QSpec.Kernels.Formats;

namespace QSpec.DeviceCheck;

/// <summary>
/// The device backend with its fused ops hidden: every plain op is forwarded, the fused ones (LinearMany, LinearSwiGlu,
/// LinearAdd, RmsNormQuantize, RopeStoreKvAttention) fall back to IBackend's default bodies, i.e. their composition of
/// plain ops on the same device. Lets one run count kernels and syncs before and after fusion, and check that fused
/// and composed decoding give the same tokens on the device.
/// </summary>
internal sealed class ComposedBackend(IBackend inner) : IBackend
{
    public string Name => $"{inner.Name}, composed";
    public DeviceBuffer Allocate(long length) => inner.Allocate(length);
    public DeviceBuffer AllocateKv(long length, KvPrecision precision) => inner.AllocateKv(length, precision);
    public QuantizedActivationBuffer AllocateQuantizedActivations(int maxRows, int maxColumns) => inner.AllocateQuantizedActivations(maxRows, maxColumns);
    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long offset = 0) => inner.Upload(source, destination, offset);
    public void Download(DeviceBuffer source, Span<float> destination, long offset = 0) => inner.Download(source, destination, offset);
    public DeviceMatrix CreateMatrix(Int4Matrix? int4, float[]? dense, int rows, int columns) => inner.CreateMatrix(int4, dense, rows, columns);
    public void Synchronize() => inner.Synchronize();
    public void Embedding(DeviceBuffer table, ReadOnlySpan<int> tokens, int dim, DeviceBuffer x) => inner.Embedding(table, tokens, dim, x);
    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps) => inner.RmsNorm(x, weight, y, rows, dim, eps);
    public void LinearF32(DeviceBuffer x, DeviceMatrix w, DeviceBuffer y, int rows) => inner.LinearF32(x, w, y, rows);
    public void LinearW4A16(DeviceBuffer x, DeviceMatrix w, DeviceBuffer y, int rows) => inner.LinearW4A16(x, w, y, rows);
    public void QuantizeActivations(DeviceBuffer x, int rows, int columns, int bits, QuantizedActivationBuffer q) => inner.QuantizeActivations(x, rows, columns, bits, q);
    public void LinearInt(QuantizedActivationBuffer q, DeviceMatrix w, DeviceBuffer y, int rows) => inner.LinearInt(q, w, y, rows);
    public void Hadamard(DeviceBuffer x, int rows, int dim, int blockSize) => inner.Hadamard(x, rows, dim, blockSize);
    public void Rope(DeviceBuffer x, int rows, int heads, int headSize, ReadOnlySpan<int> positions, float theta) => inner.Rope(x, rows, heads, headSize, positions, theta);
    public void StoreKv(DeviceBuffer k, DeviceBuffer v, int rowOffset, int rows, int kvDim, DeviceBuffer keyCache, DeviceBuffer valueCache, long layerOffset, int start)
        => inner.StoreKv(k, v, rowOffset, rows, kvDim, keyCache, valueCache, layerOffset, start);
    public void Attention(DeviceBuffer q, int rowOffset, int rows, int heads, int kvHeads, int headSize, DeviceBuffer keyCache, DeviceBuffer valueCache, long layerOffset, int start, DeviceBuffer output)
        => inner.Attention(q, rowOffset, rows, heads, kvHeads, headSize, keyCache, valueCache, layerOffset, start, output);
    public void SwiGlu(DeviceBuffer gate, DeviceBuffer up, long length) => inner.SwiGlu(gate, up, length);
    public void Add(DeviceBuffer x, DeviceBuffer delta, long length) => inner.Add(x, delta, length);
    public int Argmax(DeviceBuffer x, long offset, int length) => inner.Argmax(x, offset, length);
    public void ArgmaxRows(DeviceBuffer x, long offset, int length, Span<int> indices) => inner.ArgmaxRows(x, offset, length, indices);

    /// <summary>Leaves the device backend to its owner.</summary>
    public void Dispose() { }
}
