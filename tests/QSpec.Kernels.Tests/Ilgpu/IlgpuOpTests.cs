using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;
using QSpec.Kernels.Ops;
using static QSpec.Kernels.Tests.Ilgpu.IlgpuTestData;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>The non-linear ops of the ILGPU backend on the CPU accelerator vs the scalar references.</summary>
[Collection(IlgpuCollection.Name)]
public sealed class IlgpuOpTests(IlgpuFixture fixture)
{
    private readonly IlgpuBackend _b = fixture.Backend;

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 17)]
    [InlineData(2, 172)]
    public void RmsNorm_MatchesReference(int rows, int dim)
    {
        var x = Random(rows * dim, 11, 4f);
        var w = Random(dim, 12);
        var expected = new float[rows * dim];
        ElementwiseReference.RmsNorm(x, w, expected, rows, dim, 1e-5f);
        using var xb = _b.UploadNew(x);
        using var wb = _b.UploadNew(w);
        using var yb = _b.Allocate(rows * dim);
        _b.RmsNorm(xb, wb, yb, rows, dim, 1e-5f);
        AssertClose(expected, _b.DownloadAll(yb), i => RmsNormRelative * Math.Abs(expected[i]) + 1e-7, "RmsNorm");
    }

    [Theory]
    [InlineData(1, 1, 2)]
    [InlineData(3, 3, 8)]
    [InlineData(2, 2, 34)]
    public void Rope_IsExact(int rows, int heads, int headSize)
    {
        var x = Random(rows * heads * headSize, 13);
        int[] positions = new[] { 0, 17, 1000 }[..rows];
        var expected = (float[])x.Clone();
        AttentionReference.Rope(expected, rows, heads, headSize, positions, 10000f);
        using var xb = _b.UploadNew(x);
        _b.Rope(xb, rows, heads, headSize, positions, 10000f);
        AssertBitwise(expected, _b.DownloadAll(xb), "Rope");
        // A later call at a larger position grows the table; an earlier one reuses it.
        var expected2 = (float[])x.Clone();
        int[] far = new[] { 5000, 3, 2 }[..rows];
        AttentionReference.Rope(expected2, rows, heads, headSize, far, 500000f);
        _b.Upload(x, xb);
        _b.Rope(xb, rows, heads, headSize, far, 500000f);
        AssertBitwise(expected2, _b.DownloadAll(xb), "Rope (grown table)");
    }

    [Theory]
    [InlineData(KvPrecision.Float32)]
    [InlineData(KvPrecision.Float16)]
    public void StoreKv_WritesRoundedRowsAtTheirPositions(KvPrecision precision)
    {
        const int kvDim = 17, seqLen = 6, layers = 2, rows = 3, rowOffset = 1, start = 2;
        var k = Random((rows + rowOffset) * kvDim, 14, 70000f); // includes values beyond the FP16 range
        var v = Random((rows + rowOffset) * kvDim, 15);
        long layerOffset = (long)seqLen * kvDim;
        using var kb = _b.UploadNew(k);
        using var vb = _b.UploadNew(v);
        using var kc = _b.AllocateKv(layers * seqLen * kvDim, precision);
        using var vc = _b.AllocateKv(layers * seqLen * kvDim, precision);
        _b.StoreKv(kb, vb, rowOffset, rows, kvDim, kc, vc, layerOffset, start);
        var keys = _b.DownloadAll(kc);
        var values = _b.DownloadAll(vc);
        for (int i = 0; i < keys.Length; i++)
        {
            long rel = i - layerOffset - (long)start * kvDim;
            bool written = rel >= 0 && rel < rows * kvDim;
            float ek = written ? Round(k[rowOffset * kvDim + rel], precision) : 0f;
            float ev = written ? Round(v[rowOffset * kvDim + rel], precision) : 0f;
            Assert.Equal(ek, keys[i]);
            Assert.Equal(ev, values[i]);
        }
    }

    [Theory]
    [InlineData(KvPrecision.Float32, 1, 1, 1, 0, 1)]
    [InlineData(KvPrecision.Float32, 4, 2, 8, 5, 3)]
    [InlineData(KvPrecision.Float16, 4, 2, 8, 5, 3)]
    [InlineData(KvPrecision.Float32, 3, 3, 6, 40, 1)]
    [InlineData(KvPrecision.Float32, 16, 1, 8, 9, 3)]  // 16 query heads per KV head: two groups of 8 per KV head
    [InlineData(KvPrecision.Float16, 12, 2, 4, 30, 2)] // 6 per KV head
    public void Attention_MatchesReference(KvPrecision precision, int heads, int kvHeads, int headSize, int start, int rows)
    {
        const int rowOffset = 1;
        int kvDim = kvHeads * headSize, width = heads * headSize, seqLen = start + rows + 2, layerOffset = seqLen * kvDim;
        var keys = Random(seqLen * kvDim, 16);
        var values = Random(seqLen * kvDim, 17);
        var q = Random((rows + rowOffset) * width, 18, 2f);
        using var kc = _b.AllocateKv(2 * seqLen * kvDim, precision);
        using var vc = _b.AllocateKv(2 * seqLen * kvDim, precision);
        _b.Upload(keys, kc, layerOffset);
        _b.Upload(values, vc, layerOffset);
        using var qb = _b.UploadNew(q);
        using var ob = _b.Allocate(q.Length);
        _b.Attention(qb, rowOffset, rows, heads, kvHeads, headSize, kc, vc, layerOffset, start, ob);

        // The reference reads the cache contents as stored (rounded for FP16).
        var ks = keys.Select(t => Round(t, precision)).ToArray();
        var vs = values.Select(t => Round(t, precision)).ToArray();
        var expected = new float[rows * width];
        AttentionReference.Attention(q.AsSpan(rowOffset * width), rows, heads, kvHeads, headSize, ks, vs, start, expected);
        var actual = _b.DownloadAll(ob);
        AssertClose(expected, actual.AsSpan(rowOffset * width, rows * width), _ => AttentionAbsolute, "Attention");
        Assert.All(actual.AsSpan(0, rowOffset * width).ToArray(), t => Assert.Equal(0f, t)); // other rows untouched
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1025)]
    public void SwiGlu_And_Add_MatchReference(int n)
    {
        var gate = Random(n, 19, 6f);
        var up = Random(n, 20);
        var expected = (float[])gate.Clone();
        ElementwiseReference.SwiGlu(expected, up);
        using var gb = _b.UploadNew(gate);
        using var ub = _b.UploadNew(up);
        _b.SwiGlu(gb, ub, n);
        AssertClose(expected, _b.DownloadAll(gb), i => SwiGluRelative * Math.Abs(expected[i]) + 1e-12, "SwiGlu");

        var sum = (float[])gate.Clone();
        ElementwiseReference.Add(sum, up);
        _b.Upload(gate, gb);
        _b.Add(gb, ub, n);
        AssertBitwise(sum, _b.DownloadAll(gb), "Add");
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 64, 64)]
    [InlineData(2, 96, 32)]
    [InlineData(1, 17, 1)]
    [InlineData(2, 8, 2)]
    public void Hadamard_IsExact(int rows, int dim, int block)
    {
        var x = Random(rows * dim, 21);
        var expected = (float[])x.Clone();
        HadamardReference.Transform(expected, rows, dim, block);
        using var xb = _b.UploadNew(x);
        _b.Hadamard(xb, rows, dim, block);
        AssertBitwise(expected, _b.DownloadAll(xb), "Hadamard");
        Assert.Throws<ArgumentOutOfRangeException>(() => _b.Hadamard(xb, rows, dim, 3));
    }

    [Fact]
    public void Embedding_GathersRows()
    {
        const int vocab = 7, dim = 17;
        var table = Random(vocab * dim, 22);
        int[] tokens = [3, 0, 6, 3];
        using var tb = _b.UploadNew(table);
        using var xb = _b.Allocate(tokens.Length * dim);
        _b.Embedding(tb, tokens, dim, xb);
        var x = _b.DownloadAll(xb);
        for (int m = 0; m < tokens.Length; m++)
            Assert.Equal(table.AsSpan(tokens[m] * dim, dim).ToArray(), x.AsSpan(m * dim, dim).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => _b.Embedding(tb, [vocab], dim, xb));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(17, 3)]
    [InlineData(1025, 1)]
    public void Argmax_FindsFirstMaximum(int length, int offset)
    {
        var x = Random(length + offset + 2, 23);
        int expected = ElementwiseReference.Argmax(x.AsSpan(offset, length));
        using var xb = _b.UploadNew(x);
        Assert.Equal(expected, _b.Argmax(xb, offset, length));

        // Ties: the first index wins, also when the tie spans threads.
        Array.Fill(x, -1f);
        if (length > 600) { x[offset + 600] = 5f; x[offset + 300] = 5f; expected = 300; }
        else { x[offset + length - 1] = 5f; expected = length - 1; }
        _b.Upload(x, xb);
        Assert.Equal(expected, _b.Argmax(xb, offset, length));
    }

    private static float Round(float value, KvPrecision precision) =>
        precision == KvPrecision.Float16 ? (float)(Half)value : value;
}
