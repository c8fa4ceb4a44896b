using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `w4a16rows [threads=2] [groupSize=32] [batches=15]`: EXPERIMENT. W4A16 at M = 1 against M = 2 on the TinyLlama
/// W1 | W3 shape (5632 × 2048, fp16-valued scales, weights from memory), once as one plain linear call and once as the
/// forward calls it (<see cref="IBackend.LinearSwiGlu"/> over W1 and W3), interleaved: does the M = 2 call cost
/// in the fused dispatch what it costs alone?
/// </summary>
public static class W4A16RowsProbe
{
    public static void Run(TextWriter o, int threads, int groupSize, int batches)
    {
        using var backend = new CpuBackend(new CpuBackendOptions { MaxThreads = threads });
        const int n = 5632, k = 2048;
        float scale = (float)(Half)0.01f;
        using var w1 = new WeightCopies(backend, n, k, groupSize, scale);
        using var w3 = new WeightCopies(backend, n, k, groupSize, scale);
        var rng = new Random(3);
        var x = new float[2 * k];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        using var xb = backend.Allocate(x.Length);
        backend.Upload(x, xb);
        using var gate = backend.Allocate(2L * n);
        using var up = backend.Allocate(4L * n);
        Action Plain(int m) => () => { backend.LinearW4A16(xb, w1.Next(), gate, m); backend.Synchronize(); };
        Action Fused(int m) => () => { backend.LinearSwiGlu(QSpec.Kernels.Backends.LinearKind.W4A16, xb, null, w1.Next(), w3.Next(), gate, up, m); backend.Synchronize(); };
        for (int i = 0; i < w1.Device.Length; i++) { Plain(1)(); Fused(1)(); }
        o.WriteLine($"w4a16rows: {backend.Name}, {n}x{k} G={groupSize}; A = M 1, B = M 2");
        IntPathAb.Header(o);
        IntPathAb.Row(o, n, k, 2, Plain(1), Plain(2), batches);
        IntPathAb.Row(o, 2 * n, k, 2, Fused(1), Fused(2), batches);
        foreach (int m in new[] { 1, 2, 1, 2 })
        {
            var f = Fused(m);
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            for (int i = 0; i < 300; i++) f();
            o.WriteLine($"fused M = {m}, 300 calls in a row: {System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds / 300 * 1000:F1} us per call");
        }
        // In cache: one copy of 512 channels (256 KB of nibbles per thread, inside the 1 MB L2): the tile's own cost.
        var hot = backend.CreateMatrix(LinearCase.RandomCopies(512, k, groupSize, hot: true, new Random(4))[0], null, 512, k);
        o.WriteLine("in cache, A = M 1, B = M 2 and M 4:");
        IntPathAb.Row(o, 512, k, 2, () => { backend.LinearW4A16(xb, hot, gate, 1); backend.Synchronize(); },
                      () => { backend.LinearW4A16(xb, hot, gate, 2); backend.Synchronize(); }, batches);
        using var x4 = backend.Allocate(4L * k);
        backend.Upload(x.Concat(x).ToArray(), x4);
        IntPathAb.Row(o, 512, k, 4, () => { backend.LinearW4A16(x4, hot, gate, 1); backend.Synchronize(); },
                      () => { backend.LinearW4A16(x4, hot, up, 4); backend.Synchronize(); }, batches);
        // Tiny activations (x · 1e-40: fp32 subnormals) in row 2 against normal ones.
        var tiny = x.Select((v, i) => i >= k ? v * 1e-40f : v).ToArray();
        using var xt = backend.Allocate(tiny.Length);
        backend.Upload(tiny, xt);
        o.WriteLine("in cache, M = 2, A = normal rows, B = row 2 subnormal:");
        IntPathAb.Row(o, 512, k, 2, () => { backend.LinearW4A16(xb, hot, gate, 2); backend.Synchronize(); },
                      () => { backend.LinearW4A16(xt, hot, up, 2); backend.Synchronize(); }, batches);
        hot.Dispose();
    }
}
