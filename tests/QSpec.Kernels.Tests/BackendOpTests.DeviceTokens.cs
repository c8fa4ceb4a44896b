using QSpec.Kernels.Backends;

namespace QSpec.Kernels.Tests;

/// <summary>This part: token ids kept on the device (ArgmaxRowsTo, EmbeddingFrom, DownloadTokens), the greedy draft loop's ops.</summary>
public sealed partial class BackendOpTests
{
    [Theory, MemberData(nameof(ArgmaxRowsCases))]
    public void ArgmaxRowsTo_WritesTheIdsOfArgmaxRows_AndNothingElse(string name, int rows, int n)
    {
        var backend = TestCases.Backend(name);
        const int offset = 3, tokenOffset = 5, tail = 4;
        var x = TestData.Floats(offset + rows * n, rows + 2 * n);
        using var xb = TestData.Upload(backend, x);
        // The id buffer starts as NaN: a slot the op should not write stays NaN, and an id read back is its int bits.
        using var ids = backend.Allocate(tokenOffset + rows + tail);
        backend.Upload(Enumerable.Repeat(float.NaN, (int)ids.Length).ToArray(), ids);
        backend.ArgmaxRowsTo(xb, offset, n, rows, ids, tokenOffset);

        var expected = new int[rows];
        backend.ArgmaxRows(xb, offset, n, expected);
        var got = new int[rows];
        backend.DownloadTokens(ids, tokenOffset, got);
        Assert.Equal(expected, got);
        var all = TestData.Download(backend, ids, (int)ids.Length);
        for (int i = 0; i < all.Length; i++)
            if (i < tokenOffset || i >= tokenOffset + rows) Assert.True(float.IsNaN(all[i]), $"slot {i} was written");
        // Past the id buffer: an ArgumentOutOfRangeException, not a write beyond it.
        Assert.ThrowsAny<ArgumentOutOfRangeException>(() => backend.ArgmaxRowsTo(xb, offset, n, rows, ids, tokenOffset + tail + 1));
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void EmbeddingFrom_EqualsEmbeddingOfTheSameIds(string name)
    {
        var backend = TestCases.Backend(name);
        const int v = 7, d = 17, rows = 3, tokenOffset = 2;
        int[] chosen = [6, 0, 6];
        var table = TestData.Floats(v * d, 1);
        using var tb = TestData.Upload(backend, table);
        // Logits whose argmax rows are the chosen ids, so the ids come from ArgmaxRowsTo as in the draft loop.
        var logits = new float[rows * v];
        for (int r = 0; r < rows; r++) logits[r * v + chosen[r]] = 1f;
        using var lb = TestData.Upload(backend, logits);
        using var ids = backend.Allocate(tokenOffset + rows);
        backend.ArgmaxRowsTo(lb, 0, v, rows, ids, tokenOffset);

        using var fromDevice = backend.Allocate(rows * d);
        using var fromHost = backend.Allocate(rows * d);
        backend.EmbeddingFrom(tb, ids, tokenOffset, rows, d, fromDevice);
        backend.Embedding(tb, chosen, d, fromHost);
        TestData.AssertBitwise(TestData.Download(backend, fromHost, rows * d), TestData.Download(backend, fromDevice, rows * d));
        for (int r = 0; r < rows; r++)
            TestData.AssertBitwise(table.AsSpan(chosen[r] * d, d), TestData.Download(backend, fromDevice, rows * d).AsSpan(r * d, d));
        Assert.ThrowsAny<ArgumentOutOfRangeException>(() => backend.EmbeddingFrom(tb, ids, tokenOffset + 1, rows, d, fromDevice));
    }
}
