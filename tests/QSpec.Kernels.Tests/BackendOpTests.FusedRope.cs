using QSpec.Kernels.Backends;

namespace QSpec.Kernels.Tests;

/// <summary>
/// <see cref="IBackend.RopeStoreKvAttention"/> against its composition (RoPE on Q and K, then per sequence StoreKv and
/// Attention) on the same backend, bit for bit: the attention output and both caches of every sequence, for F32 and
/// FP16 caches, several sequences in one call (each with earlier positions already cached), a sequence with no rows,
/// and head layouts from MHA to 16 query heads per KV head.
/// </summary>
public sealed partial class BackendOpTests
{
    /// <summary>(precision, heads, kvHeads, headSize) rows.</summary>
    private static readonly object[][] FusedRopeShapes =
    [
        [KvPrecision.Float32, 4, 2, 16], [KvPrecision.Float32, 3, 3, 6], [KvPrecision.Float32, 8, 1, 64], [KvPrecision.Float32, 16, 1, 8],
        [KvPrecision.Float16, 4, 2, 16], [KvPrecision.Float16, 16, 1, 8],
    ];

    public static IEnumerable<object[]> FusedRopeCases => TestCases.Cross(FusedRopeShapes);

    [Theory, MemberData(nameof(FusedRopeCases))]
    public void RopeStoreKvAttention_EqualsRopeStoreKvThenAttention(string name, KvPrecision precision, int heads, int kvHeads, int hs)
    {
        var backend = TestCases.Backend(name);
        const float theta = 10000f;
        const int capacity = 24;
        // (rows, start) per sequence: a 5-row chunk after 13 cached positions, a 1-row decode at 0, none, a 3-row chunk at 20.
        (int Rows, int Start)[] parts = [(5, 13), (1, 0), (0, 7), (3, 20)];
        int m = parts.Sum(p => p.Rows), kvDim = kvHeads * hs, width = heads * hs;
        long layer = (long)capacity * kvDim; // the sequences' layer 1 of 2
        var q = TestData.Floats(m * width, heads + hs, 2f);
        var k = TestData.Floats(m * kvDim, kvDim, 2f);
        var v = TestData.Floats(m * kvDim, kvDim + 1);
        var disposables = new List<IDisposable>();
        T Own<T>(T d) where T : IDisposable { disposables.Add(d); return d; }
        try
        {
            // Two copies of every sequence's caches, filled alike through StoreKv (earlier positions, and garbage past them).
            var caches = parts.Select((p, i) =>
            {
                var c = new DeviceBuffer[4]; // fused keys, values; composed keys, values
                for (int j = 0; j < 4; j++) c[j] = Own(backend.AllocateKv(2 * layer, precision));
                using var keys = TestData.Upload(backend, TestData.Floats((int)(2 * layer), 100 * i, 2f));
                using var values = TestData.Upload(backend, TestData.Floats((int)(2 * layer), 100 * i + 1));
                backend.StoreKv(keys, values, 0, 2 * capacity, kvDim, c[0], c[1], 0, 0);
                backend.StoreKv(keys, values, 0, 2 * capacity, kvDim, c[2], c[3], 0, 0);
                return c;
            }).ToArray();
            var fused = parts.Select((p, i) => new KvSlice(p.Rows, p.Start, caches[i][0], caches[i][1], layer)).ToArray();
            var qf = Own(TestData.Upload(backend, q));
            var kf = Own(TestData.Upload(backend, k));
            var vf = Own(TestData.Upload(backend, v));
            var of = Own(backend.Allocate(m * width));
            backend.RopeStoreKvAttention(qf, kf, vf, heads, kvHeads, hs, theta, fused, of);

            var qc = Own(TestData.Upload(backend, q));
            var kc = Own(TestData.Upload(backend, k));
            var vc = Own(TestData.Upload(backend, v));
            var oc = Own(backend.Allocate(m * width));
            var positions = parts.SelectMany(p => Enumerable.Range(p.Start, p.Rows)).ToArray();
            backend.Rope(qc, m, heads, hs, positions, theta);
            backend.Rope(kc, m, kvHeads, hs, positions, theta);
            for (int i = 0, row = 0; i < parts.Length; row += parts[i].Rows, i++)
            {
                backend.StoreKv(kc, vc, row, parts[i].Rows, kvDim, caches[i][2], caches[i][3], layer, parts[i].Start);
                backend.Attention(qc, row, parts[i].Rows, heads, kvHeads, hs, caches[i][2], caches[i][3], layer, parts[i].Start, oc);
            }

            TestData.AssertBitwise(TestData.Download(backend, oc, m * width), TestData.Download(backend, of, m * width));
            for (int i = 0; i < parts.Length; i++)
            {
                if (precision == KvPrecision.Float32) // the CPU backend's FP16 caches are read only by its attention
                    for (int c = 0; c < 2; c++)
                        TestData.AssertBitwise(TestData.Download(backend, caches[i][c + 2], (int)(2 * layer)),
                                               TestData.Download(backend, caches[i][c], (int)(2 * layer)));
                TestData.AssertBitwise(CacheDigest(backend, caches[i][2], caches[i][3], heads, kvHeads, hs, capacity),
                                       CacheDigest(backend, caches[i][0], caches[i][1], heads, kvHeads, hs, capacity));
            }
        }
        finally
        {
            foreach (var d in disposables) d.Dispose();
        }
    }

    /// <summary>
    /// Both layers of a cache pair as attention reads them: random query rows at every position 0 .. capacity − 1
    /// (row r attends to positions 0 .. r), so equal digests mean equal cache contents (for any precision).
    /// </summary>
    private static float[] CacheDigest(IBackend backend, DeviceBuffer keys, DeviceBuffer values, int heads, int kvHeads, int hs, int capacity)
    {
        int width = heads * hs;
        using var q = TestData.Upload(backend, TestData.Floats(capacity * width, 77, 2f));
        using var o = backend.Allocate(2L * capacity * width);
        var digest = new float[2 * capacity * width];
        for (int layer = 0; layer < 2; layer++)
        {
            backend.Attention(q, 0, capacity, heads, kvHeads, hs, keys, values, (long)layer * capacity * kvHeads * hs, 0, o);
            TestData.Download(backend, o, capacity * width).CopyTo(digest, layer * capacity * width);
        }
        return digest;
    }
}
