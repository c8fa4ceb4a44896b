using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `w4a16rows linears [pairs=40] [norms=0] [attention=0]`: EXPERIMENT. The synthetic TinyLlama-1.1B's linear calls alone, in forward order and
/// through the forward's fused ops (QKV, Wo + residual, W1 | W3 + SwiGLU, W2 + residual; with norms = 1 also the two
/// RMSNorms before QKV and W1 | W3; with attention = 1 also RoPE, the KV store and attention at position 64), at
/// M = 1 and M = 2, alternated sweep by sweep: does the sequence show the forward's M = 2 cost? Then the session's own
/// forward at M = 1 and 2 in the same process, interleaved with the sweeps, alternated, and in runs of one M (this is what
/// showed the forward's M = 2 cost to be the process's, not the forward's: docs/results.md, eleventh round).
/// </summary>
public static class W4A16LinearsProbe
{
    public static void Run(TextWriter o, int threads, int pairs, bool norms, bool attention = false)
    {
        var config = SyntheticModel.Shape("tinyllama-1.1b");
        var backend = new CpuBackend(new CpuBackendOptions { MaxThreads = threads });
        using var model = QSpec.Inference.LlamaModel.Create(SyntheticModel.Create(config), backend);
        int d = config.Dim, h = config.HiddenDim, kv = config.KvHeads * config.HeadSize;
        var rng = new Random(5);
        DeviceBuffer Buf(long n)
        {
            var b = backend.Allocate(n);
            backend.Upload(Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), b);
            return b;
        }
        var xb = Buf(2L * d); var q = Buf(2L * d); var k = Buf(2L * kv); var v = Buf(2L * kv);
        var x = Buf(2L * d); var logits = Buf(2L * config.VocabSize); var xb2 = Buf(2L * h); var hb = Buf(2L * h); var hb2 = Buf(2L * h);
        var kind = QSpec.Kernels.Backends.LinearKind.W4A16;
        using var session = model.CreateSession();
        var cache = session.Cache;
        double Sweep(int m)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            for (int l = 0; l < model.Layers.Length; l++)
            {
                var w = model.Layers[l];
                if (norms) backend.RmsNorm(x, w.AttentionNorm, xb, m, d, 1e-5f);
                backend.LinearMany(kind, xb, null, [w.Wq, w.Wk, w.Wv], [q, k, v], m);
                if (attention)
                    ((IBackend)backend).RopeStoreKvAttention(q, k, v, config.Heads, config.KvHeads, config.HeadSize, config.RopeTheta,
                        [new KvSlice(m, 64, cache.Keys, cache.Values, cache.LayerOffset(l))], xb);
                backend.LinearAdd(kind, xb, null, w.Wo, x, xb2, m);
                if (norms) backend.RmsNorm(x, w.FfnNorm, xb, m, d, 1e-5f);
                backend.LinearSwiGlu(kind, xb, null, w.W1, w.W3, hb, hb2, m);
                backend.LinearAdd(kind, hb, null, w.W2, x, xb2, m);
            }
            if (attention) backend.LinearW4A16(xb, model.Classifier, logits, m);
            return System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        for (int i = 0; i < 5; i++) { Sweep(1); Sweep(2); }
        var t1 = new double[pairs]; var t2 = new double[pairs];
        for (int i = 0; i < pairs; i++) { t1[i] = Sweep(1); t2[i] = Sweep(2); }
        Array.Sort(t1); Array.Sort(t2);
        var r2 = new double[pairs]; var r1 = new double[pairs];
        for (int i = 0; i < pairs; i++) r2[i] = Sweep(2);
        for (int i = 0; i < pairs; i++) r1[i] = Sweep(1);
        Array.Sort(r1); Array.Sort(r2);
        o.WriteLine($"  not alternated ({pairs} sweeps of M = 2, then of M = 1): M = 1 {r1[pairs / 2]:F2}, M = 2 {r2[pairs / 2]:F2} ({r2[pairs / 2] / r1[pairs / 2]:F2}x)");
        o.WriteLine($"w4a16rows linears{(norms ? " + norms" : "")}{(attention ? " + attention" : "")}: {config.Layers} layers' linear calls, median ms: M = 1 {t1[pairs / 2]:F2}, M = 2 {t2[pairs / 2]:F2} ({t2[pairs / 2] / t1[pairs / 2]:F2}x)");
        // The session's own forward (the one `qspec bench` and decodeloop time) at M = 1 and 2, alternated with the sweeps
        // above in the same process: does the forward cost more than its calls replayed?
        session.Prefill(Enumerable.Range(1, 64).ToArray(), 0, QSpec.Inference.ExecutionMode.W4A16);
        double Forward(int m)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            session.Prefill(Enumerable.Repeat(5, m).ToArray(), 64, QSpec.Inference.ExecutionMode.W4A16);
            return System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        // Medians as in the lines above (the upper one of an even count); "a, b (b/a x)".
        static double Med(double[] t) { Array.Sort(t); return t[t.Length / 2]; }
        static string Pair(double[] a, double[] b) { double ma = Med(a), mb = Med(b); return $"M = 1 {ma:F2}, M = 2 {mb:F2} ({mb / ma:F2}x)"; }
        var f1 = new double[pairs]; var f2 = new double[pairs]; var s1 = new double[pairs]; var s2 = new double[pairs];
        for (int i = 0; i < 3; i++) { Forward(1); Forward(2); }
        for (int i = 0; i < pairs; i++) { f1[i] = Forward(1); s1[i] = Sweep(1); f2[i] = Forward(2); s2[i] = Sweep(2); }
        o.WriteLine($"  interleaved forward/sweep, median ms: forward {Pair(f1, f2)}; sweep {Pair(s1, s2)}");
        for (int i = 0; i < pairs; i++) { f1[i] = Forward(1); f2[i] = Forward(2); }
        o.WriteLine($"  forwards alone, alternated, median ms: {Pair(f1, f2)}");
        for (int i = 0; i < pairs; i++) f2[i] = Forward(2);
        for (int i = 0; i < pairs; i++) f1[i] = Forward(1);
        o.WriteLine($"  forwards alone, {pairs} of M = 2 then {pairs} of M = 1, median ms: {Pair(f1, f2)}");
        foreach (var b in new[] { xb, q, k, v, x, xb2, hb, hb2, logits }) b.Dispose();
    }
}
