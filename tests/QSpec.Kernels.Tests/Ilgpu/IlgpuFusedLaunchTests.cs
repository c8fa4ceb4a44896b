using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;
using QSpec.Kernels.Formats;
using static QSpec.Kernels.Tests.Ilgpu.IlgpuTestData;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>
/// The ILGPU fused ops really are single launches (BackendOpTests.Fused* pins their results to the composition; this
/// pins that they do not silently fall back to it): one kernel per fused linear or norm, one for the fused attention
/// of up to 8 sequences, and no host wait or upload among them.
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

    /// <summary>
    /// One launch per run of up to 8 sequences (each with its own caches, one precision): 10 one-row sequences and an
    /// empty one take 2 launches, 3 sequences 1; the result equals the composition bit for bit.
    /// </summary>
    [Theory]
    [InlineData(3, KvPrecision.Float32, 1)]
    [InlineData(11, KvPrecision.Float32, 2)]
    [InlineData(11, KvPrecision.Float16, 2)]
    public void RopeStoreKvAttention_IsOneLaunchPerEightSequences(int sequences, KvPrecision precision, int launches)
    {
        const int heads = 4, kvHeads = 2, hs = 8, capacity = 16;
        int kvDim = kvHeads * hs, width = heads * hs;
        var parts = Enumerable.Range(0, sequences).Select(i => (Rows: i == 4 ? 0 : 1 + i % 2, Start: 3 * i % 11)).ToArray();
        int m = parts.Sum(p => p.Rows);
        var qh = Random(m * width, 6, 2f);
        var kh = Random(m * kvDim, 7, 2f);
        var vh = Random(m * kvDim, 8);
        var owned = new List<IDisposable>();
        T Own<T>(T d) where T : IDisposable { owned.Add(d); return d; }
        try
        {
            var caches = parts.Select(_ => Enumerable.Range(0, 4).Select(_ => Own(_b.AllocateKv(capacity * kvDim, precision))).ToArray()).ToArray();
            var (q, k, v, o) = (Own(_b.UploadNew(qh)), Own(_b.UploadNew(kh)), Own(_b.UploadNew(vh)), Own(_b.Allocate(m * width)));
            var slices = parts.Select((p, i) => new KvSlice(p.Rows, p.Start, caches[i][0], caches[i][1], 0)).ToArray();
            IBackend b = _b;
            var (wk, wv) = (Own(_b.AllocateKv(capacity * kvDim, precision)), Own(_b.AllocateKv(capacity * kvDim, precision)));
            b.RopeStoreKvAttention(q, k, v, heads, kvHeads, hs, 1e4f, [new KvSlice(1, capacity - 1, wk, wv, 0)], o); // builds the RoPE table
            _b.Upload(qh, q);
            AssertOneLaunch(() => b.RopeStoreKvAttention(q, k, v, heads, kvHeads, hs, 1e4f, slices, o), launches, "RopeStoreKvAttention");

            var (qc, kc, vc, oc) = (Own(_b.UploadNew(qh)), Own(_b.UploadNew(kh)), Own(_b.UploadNew(vh)), Own(_b.Allocate(m * width)));
            var positions = parts.SelectMany(p => Enumerable.Range(p.Start, p.Rows)).ToArray();
            b.Rope(qc, m, heads, hs, positions, 1e4f);
            b.Rope(kc, m, kvHeads, hs, positions, 1e4f);
            for (int i = 0, row = 0; i < parts.Length; row += parts[i].Rows, i++)
            {
                b.StoreKv(kc, vc, row, parts[i].Rows, kvDim, caches[i][2], caches[i][3], 0, parts[i].Start);
                b.Attention(qc, row, parts[i].Rows, heads, kvHeads, hs, caches[i][2], caches[i][3], 0, parts[i].Start, oc);
            }
            AssertBitwise(_b.DownloadAll(oc), _b.DownloadAll(o), "output");
            for (int i = 0; i < parts.Length; i++)
            {
                AssertBitwise(_b.DownloadAll(caches[i][2]), _b.DownloadAll(caches[i][0]), $"keys of sequence {i}");
                AssertBitwise(_b.DownloadAll(caches[i][3]), _b.DownloadAll(caches[i][1]), $"values of sequence {i}");
            }
        }
        finally
        {
            foreach (var d in owned) d.Dispose();
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(36)] // a verify pass of 4 sequences × (k = 8 drafts + 1)
    public void ArgmaxRows_IsOneLaunchAndOneHostWait(int rows)
    {
        const int vocab = 513;
        using var logits = _b.UploadNew(Random(rows * vocab, 6));
        var indices = new int[rows];
        _b.Synchronize();
        long launches = _b.KernelLaunches, syncs = _b.HostSyncs;
        ((IBackend)_b).ArgmaxRows(logits, 0, vocab, indices);
        Assert.Equal(1, _b.KernelLaunches - launches);
        Assert.Equal(1, _b.HostSyncs - syncs);
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
