using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;
using static QSpec.Kernels.Tests.Ilgpu.IlgpuTestData;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>
/// The GQA attention kernel's launch choices change nothing: how many query heads of a KV head share a thread group
/// (<see cref="AttentionKernel.HeadsPerGroup"/>, which a GPU lowers for small launches) leaves every output bit as is,
/// for plain attention and for the fused RoPE + StoreKv + attention.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class IlgpuAttentionTests(IlgpuFixture fixture)
{
    private readonly IlgpuBackend _b = fixture.Backend;

    [Theory]
    [InlineData(1, 8, 4, 8)]    // G = 8: groups of 8, 4, 2 or 1 heads
    [InlineData(4, 12, 2, 16)]  // G = 6: 6, 3, 2, 1
    [InlineData(3, 16, 1, 8)]   // G = 16: 8 (two groups) down to 1
    public void HeadsPerGroup_DoesNotChangeTheResult(int rows, int heads, int kvHeads, int hs)
    {
        const int start = 11;
        int kvDim = kvHeads * hs, width = heads * hs, capacity = start + rows;
        var keys = Random(capacity * kvDim, 31);
        var values = Random(capacity * kvDim, 32);
        var q = Random(rows * width, 33, 2f);
        var k = Random(rows * kvDim, 34, 2f);
        var v = Random(rows * kvDim, 35);
        float[]? plainFirst = null, fusedFirst = null;
        try
        {
            foreach (int target in new[] { 1, 1 << 20, rows * heads / 2, rows * heads / 3 + 1 })
            {
                _b.AttentionTargetGroups = target;
                using var kc = _b.UploadNew(keys);
                using var vc = _b.UploadNew(values);
                using var qb = _b.UploadNew(q);
                using var ob = _b.Allocate(rows * width);
                _b.Attention(qb, 0, rows, heads, kvHeads, hs, kc, vc, 0, start, ob);
                var plain = _b.DownloadAll(ob);

                using var kb = _b.UploadNew(k);
                using var vb = _b.UploadNew(v);
                ((IBackend)_b).RopeStoreKvAttention(qb, kb, vb, heads, kvHeads, hs, 10000f, [new KvSlice(rows, start, kc, vc, 0)], ob);
                var fused = _b.DownloadAll(ob);

                if (plainFirst is null) (plainFirst, fusedFirst) = (plain, fused);
                AssertBitwise(plainFirst, plain, $"attention, target {target}");
                AssertBitwise(fusedFirst!, fused, $"fused attention, target {target}");
            }
        }
        finally
        {
            _b.AttentionTargetGroups = null;
        }
    }
}
