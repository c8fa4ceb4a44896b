using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;
using QSpec.Kernels.Formats;
using static QSpec.Kernels.Tests.Ilgpu.IlgpuTestData;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>
/// The ILGPU fused ops really are single launches (BackendOpTests.Fused* pins their results to the composition; this
/// pins that they do not silently fall back to it): one kernel per fused linear or norm, one per sequence for the
/// fused attention, and no host wait or upload among them.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class IlgpuFusedLaunchTests(IlgpuFixture fixture)
{
    private readonly IlgpuBackend _b = fixture.Backend;

    [Theory]
    [InlineData(LinearKind.W4A16)]
    [InlineData(LinearKind.Int)]
    public void FusedLinears_AreOneLaunchEach(LinearKind kind)
    {
        const int m = 3, k = 96, n = 10;
        using var x = _b.UploadNew(Random(m * k, 1));
        using var q = _b.AllocateQuantizedActivations(m, k);
        using var w1 = Matrix(n, k, 2);
        using var w2 = Matrix(n / 2, k, 3);
        using var w3 = Matrix(n, k, 4);
        using var y1 = _b.Allocate(m * n);
        using var y2 = _b.Allocate(m * n / 2);
        using var y3 = _b.Allocate(m * n);
        using var norm = _b.UploadNew(Random(k, 5));
        using var yn = _b.Allocate(m * k);
        IBackend b = _b;
        b.QuantizeActivations(x, m, k, 8, q);
        AssertOneLaunch(() => b.LinearMany(kind, x, q, [w1, w2, w3], [y1, y2, y3], m), 1, "LinearMany");
        AssertOneLaunch(() => b.LinearSwiGlu(kind, x, q, w1, w3, y1, y3, m), 1, "LinearSwiGlu");
        AssertOneLaunch(() => b.LinearAdd(kind, x, q, w1, y1, y3, m), 1, "LinearAdd");
        AssertOneLaunch(() => b.RmsNormQuantize(x, norm, yn, m, k, 1e-5f, 4, q), 1, "RmsNormQuantize");
    }

    [Fact]
    public void RopeStoreKvAttention_IsOneLaunchPerSequence_WithNoUpload()
    {
        const int heads = 4, kvHeads = 2, hs = 8, capacity = 8;
        int kvDim = kvHeads * hs;
        using var q = _b.UploadNew(Random(3 * heads * hs, 6));
        using var k = _b.UploadNew(Random(3 * kvDim, 7));
        using var v = _b.UploadNew(Random(3 * kvDim, 8));
        using var o = _b.Allocate(3 * heads * hs);
        using var k2 = _b.AllocateKv(capacity * kvDim, KvPrecision.Float32);
        using var v2 = _b.AllocateKv(capacity * kvDim, KvPrecision.Float32);
        IBackend b = _b;
        b.RopeStoreKvAttention(q, k, v, heads, kvHeads, hs, 1e4f, [new KvSlice(1, 0, k2, v2, 0)], o); // builds the RoPE table
        AssertOneLaunch(() => b.RopeStoreKvAttention(q, k, v, heads, kvHeads, hs, 1e4f,
            [new KvSlice(2, 5, k2, v2, 0), new KvSlice(0, 1, k2, v2, 0), new KvSlice(1, 3, k2, v2, 0)], o), 2, "RopeStoreKvAttention");
    }

    private void AssertOneLaunch(Action op, int kernels, string what)
    {
        _b.Synchronize();
        long launches = _b.KernelLaunches, syncs = _b.HostSyncs, uploads = _b.HostUploads;
        op();
        Assert.True(kernels == _b.KernelLaunches - launches, $"{what}: {_b.KernelLaunches - launches} launches, expected {kernels}");
        Assert.Equal(syncs, _b.HostSyncs);
        Assert.Equal(uploads, _b.HostUploads);
    }

    private DeviceMatrix Matrix(int n, int k, int seed) =>
        _b.CreateMatrix(Int4Matrix.Quantize(Random(n * k, seed), n, k, 32), null, n, k);
}
