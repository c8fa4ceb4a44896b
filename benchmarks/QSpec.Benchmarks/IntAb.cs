using System.Diagnostics;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;

namespace QSpec.Benchmarks;

/// <summary>
/// `int [threads] [groupSize] [reps]`: the integer linear (W4A8) on the TinyLlama-1.1B shapes against the streaming read
/// measured in the same run, interleaved batch by batch so both see the same machine load (the machine is shared and
/// noisy; only ratios inside one run mean anything). Rows: quantize alone, linear alone, both, and norm+quantize fused
/// against the two ops; weights cycled over cold copies as in <see cref="LinearCase"/>.
/// </summary>
public static class IntAb
{
    public static void Run(TextWriter o, int threads, int groupSize, int batches)
    {
        using var backend = new CpuBackend(new CpuBackendOptions { MaxThreads = threads });
        var data = GC.AllocateUninitializedArray<float>(Roofline.StreamBytes / sizeof(float), pinned: true);
        data.AsSpan().Fill(1f);
        double streamUs = double.MaxValue;
        void Stream() => streamUs = Math.Min(streamUs, Time(() => Roofline.Read(data, threads), 1));
        Stream();
        o.WriteLine($"int A/B, {backend.Name}, G={groupSize}, best of {batches} interleaved batches");
        o.WriteLine($"{"N x K",-11} {"M",2} {"quant",7} {"linear",8} {"both",8} {"GB/s",6} {"%strm",5} {"xM=1",5}");
        foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
        {
            double m1 = 0;
            foreach (int m in new[] { 1, 2, 4, 8 })
            {
                using var c = new LinearCase(backend, n, k, m, LinearKind.W4A8, groupSize);
                double lin = double.MaxValue, both = double.MaxValue;
                var x = backend.Allocate((long)m * k);
                var q = backend.AllocateQuantizedActivations(m, k);
                double quant = double.MaxValue;
                // Touch every cold copy once first: their scale layouts are built on first use.
                for (long i = 0; i <= LinearCase.ColdBytes / c.Matrix.SizeInBytes + 1; i++) c.Linear();
                for (int b = 0; b < batches; b++)
                {
                    lin = Math.Min(lin, Time(c.Linear, 5));
                    both = Math.Min(both, Time(c.QuantizeAndLinear, 5));
                    quant = Math.Min(quant, Time(() => backend.QuantizeActivations(x, m, k, 8, q), 20));
                    if (b % 8 == 0) Stream();
                }
                x.Dispose(); q.Dispose();
                if (m == 1) m1 = both;
                double bytes = c.Matrix.SizeInBytes, gbs = bytes / both / 1e3, stream = Roofline.StreamBytes / streamUs / 1e3;
                o.WriteLine($"{n + "x" + k,-11} {m,2} {quant,7:F2} {lin,8:F1} {both,8:F1} {gbs,6:F1} {100 * gbs / stream,5:F0} {both / m1,5:F2}");
            }
        }
        o.WriteLine($"stream read {Roofline.StreamBytes / streamUs / 1e3:F1} GB/s (best of the run)");
        Hot(o, backend, groupSize, batches);
        NormQuantize(o, backend, batches);
    }

    /// <summary>The kernel on weights that stay in L2 (one 256x2048 copy): its compute rate, the ceiling the stream cannot lift.</summary>
    private static void Hot(TextWriter o, IBackend backend, int groupSize, int batches)
    {
        const int n = 256, k = 2048;
        var w = Int4Matrix.CreateZero(n, k, groupSize);
        new Random(3).NextBytes(w.Data);
        w.Scales.AsSpan().Fill(0.01f);
        using var dm = backend.CreateMatrix(w, null, n, k);
        foreach (int m in new[] { 1, 2, 4, 8 })
        {
            using var x = backend.Allocate((long)m * k);
            var init = new float[m * k];
            for (int i = 0; i < init.Length; i++) init[i] = MathF.Sin(i);
            backend.Upload(init, x);
            using var y = backend.Allocate((long)m * n);
            using var q = backend.AllocateQuantizedActivations(m, k);
            backend.QuantizeActivations(x, m, k, 8, q);
            double best = double.MaxValue;
            for (int b = 0; b < batches; b++) best = Math.Min(best, Time(() => backend.LinearInt(q, dm, y, m), 20));
            o.WriteLine($"hot {n}x{k} M={m}: {best:F2} us, {w.SizeInBytes / best / 1e3:F1} GB/s of weights from L2");
        }
    }

    /// <summary>RmsNormQuantize against RmsNorm then QuantizeActivations, K = 2048, M = 1 and 4.</summary>
    private static void NormQuantize(TextWriter o, IBackend backend, int batches)
    {
        const int k = 2048;
        foreach (int m in new[] { 1, 4 })
        {
            using var x = backend.Allocate((long)m * k);
            using var w = backend.Allocate(k);
            using var y = backend.Allocate((long)m * k);
            using var q = backend.AllocateQuantizedActivations(m, k);
            var init = new float[m * k];
            for (int i = 0; i < init.Length; i++) init[i] = MathF.Sin(i);
            backend.Upload(init, x);
            backend.Upload(init.AsSpan(0, k), w);
            double fused = double.MaxValue, split = double.MaxValue;
            for (int b = 0; b < batches; b++)
            {
                fused = Math.Min(fused, Time(() => backend.RmsNormQuantize(x, w, y, m, k, 1e-5f, 8, q), 50));
                split = Math.Min(split, Time(() => { backend.RmsNorm(x, w, y, m, k, 1e-5f); backend.QuantizeActivations(y, m, k, 8, q); }, 50));
            }
            o.WriteLine($"rmsnorm+quantize K={k} M={m}: fused {fused:F2} us, separate {split:F2} us, fused/separate {fused / split:F2}");
        }
    }

    /// <summary>Mean microseconds per call over <paramref name="reps"/> calls.</summary>
    private static double Time(Action a, int reps)
    {
        long t = Stopwatch.GetTimestamp();
        for (int r = 0; r < reps; r++) a();
        return Stopwatch.GetElapsedTime(t).TotalMicroseconds / reps;
    }

    private static double Time(Func<float> f, int reps) => Time(() => { f(); }, reps);
}
