using QSpec.Kernels.Backends;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>
/// A two-layer KV cache with <see cref="Start"/> earlier positions plus <see cref="Rows"/> new query rows, all stored through
/// <see cref="IBackend.StoreKv"/> into layer 1, and the scalar reference on the cache contents (FP16-rounded when the cache is).
/// </summary>
internal sealed class AttentionSetup : IDisposable
{
    public const int Start = 19, Rows = 17, SeqLen = 40;
    private readonly IBackend _backend;
    private readonly int _heads, _kvHeads, _hs;
    private readonly float[] _q, _k, _v;
    private readonly DeviceBuffer _qb, _kc, _vc;
    private readonly long _layerOffset;
    private readonly bool _half;

    /// <param name="queryScale">The queries' range (±queryScale): 2 by default; large values spread the scores over
    /// more than e^x's normal range, so that most softmax weights would be denormal or zero.</param>
    public AttentionSetup(IBackend backend, KvPrecision precision, int heads, int kvHeads, int hs, float queryScale = 2f)
    {
        _backend = backend; _heads = heads; _kvHeads = kvHeads; _hs = hs;
        _half = precision == KvPrecision.Float16;
        int kvDim = kvHeads * hs, total = Start + Rows;
        _q = TestData.Floats(Rows * heads * hs, heads + hs, queryScale);
        _k = TestData.Floats(total * kvDim, kvDim, 2f);
        _v = TestData.Floats(total * kvDim, kvDim + 1);
        _layerOffset = (long)SeqLen * kvDim;
        _kc = backend.AllocateKv(2 * _layerOffset, precision);
        _vc = backend.AllocateKv(2 * _layerOffset, precision);
        using var kb = TestData.Upload(backend, _k);
        using var vb = TestData.Upload(backend, _v);
        backend.StoreKv(kb, vb, 0, Start, kvDim, _kc, _vc, _layerOffset, 0);
        backend.StoreKv(kb, vb, Start, Rows, kvDim, _kc, _vc, _layerOffset, Start);
        _qb = TestData.Upload(backend, _q);
    }

    /// <summary>max |v| over the cache, the scale of attention outputs.</summary>
    public float MaxAbsValue => _v.Max(MathF.Abs);

    /// <summary>The backend's output for query rows [rowOffset, rowOffset + rows).</summary>
    public float[] Run(int rowOffset, int rows)
    {
        int width = _heads * _hs;
        using var ob = _backend.Allocate(Rows * width);
        _backend.Attention(_qb, rowOffset, rows, _heads, _kvHeads, _hs, _kc, _vc, _layerOffset, Start + rowOffset, ob);
        return TestData.Download(_backend, ob, Rows * width).AsSpan(rowOffset * width, rows * width).ToArray();
    }

    /// <summary>The reference output for all rows.</summary>
    public float[] Reference()
    {
        var k = _half ? _k.Select(v => (float)(Half)v).ToArray() : _k;
        var v = _half ? _v.Select(x => (float)(Half)x).ToArray() : _v;
        var o = new float[_q.Length];
        AttentionReference.Attention(_q, Rows, _heads, _kvHeads, _hs, k, v, Start, o);
        return o;
    }

    public void Dispose()
    {
        _qb.Dispose(); _kc.Dispose(); _vc.Dispose();
    }
}
