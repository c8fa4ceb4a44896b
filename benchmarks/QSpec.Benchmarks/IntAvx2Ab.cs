using System.Diagnostics;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `intavx2ab [threads=2] [groupSize=32] [batches=15]`: the AVX2 integer linear (W4A8) with the one-row tile of before
/// (A, <see cref="LinearIntKernel.Avx2MaxTileRows"/> = 1) against the multi-row tiles (B, the default) on the TinyLlama-1.1B shapes at
/// M = 1, 2, 4, 8, on one backend, the same cycled weight copies (<see cref="LinearCase.ColdBytes"/>, read from memory)
/// and interleaved batch by batch (A B, B A, ...), so both sides see the same machine load; only ratios inside one run
/// mean anything on the shared VM. Kernel only: the activation quantization is timed on its own ("quant").
/// </summary>
/// <remarks>
/// "us" is the best batch (least disturbed), "med" the median batch; "B/A" divides the best times, "B/A med" is the
/// median of the per-pair ratios. "%strm" is the bytes (nibbles + 4 per scale) per best time over the run's best stream
/// read. "slow" is the share of single calls of B slower than 3x B's median call: a call descheduled by the OS.
/// Then the M = 1 dispatch of the two small shapes at 1 thread against 2 (multi-row kernel).
/// </remarks>
public static class IntAvx2Ab
{
    public static void Run(TextWriter o, int threads, int groupSize, int batches)
    {
        using var backend = new CpuBackend(new CpuBackendOptions { MaxThreads = threads, Path = CpuKernelPath.Avx2 });
        using var single = new CpuBackend(new CpuBackendOptions { MaxThreads = 1, Path = CpuKernelPath.Avx2 });
        var data = GC.AllocateUninitializedArray<float>(Roofline.StreamBytes / sizeof(float), pinned: true);
        data.AsSpan().Fill(1f);
        double streamUs = double.MaxValue;
        void Stream() => streamUs = Math.Min(streamUs, Roofline.Best(() => Roofline.Read(data, threads), 5));
        Stream();
        o.WriteLine($"intavx2ab: A = one-row AVX2 tile (before), B = multi-row tiles; {backend.Name}, W4A8, G={groupSize}, " +
                    $"{batches} interleaved batch pairs of ~2 ms, weights cycled over {LinearCase.ColdBytes >> 20} MiB");
        WarmUp(backend, groupSize);
        o.WriteLine($"{"N x K",-11} {"M",2} {"quant",6} {"A us",7} {"A med",7} {"B us",7} {"B med",7} {"B/A",5} {"B/A med",7} {"%strmA",6} {"%strmB",6} {"xM1 A",5} {"xM1 B",5} {"slow",5}");
        foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
        {
            double a1 = 0, b1 = 0;
            foreach (int m in Roofline.Rows)
            {
                using var c = new LinearCase(backend, n, k, m, LinearKind.W4A8, groupSize);
                for (long i = 0; i <= LinearCase.ColdBytes / c.Matrix.SizeInBytes + 1; i++) c.Linear(); // build every copy's scale layout
                var (a, b, ratio, slow) = Interleaved(c.Linear, batches);
                using var x = backend.Allocate((long)m * k);
                using var q = backend.AllocateQuantizedActivations(m, k);
                double quant = Roofline.Best(() => backend.QuantizeActivations(x, m, k, 8, q), 5);
                Stream();
                if (m == 1) { a1 = a.Best; b1 = b.Best; }
                double bytes = c.Matrix.Data.LongLength + 4.0 * c.Matrix.Scales.LongLength, stream = Roofline.StreamBytes / streamUs;
                o.WriteLine($"{n + "x" + k,-11} {m,2} {quant,6:F1} {a.Best,7:F1} {a.Median,7:F1} {b.Best,7:F1} {b.Median,7:F1} {b.Best / a.Best,5:F2} {ratio,7:F2} " +
                            $"{100 * bytes / a.Best / stream,6:F0} {100 * bytes / b.Best / stream,6:F0} {a.Best / a1,5:F2} {b.Best / b1,5:F2} {100 * slow,4:F1}%");
            }
        }
        o.WriteLine($"stream read {Roofline.StreamBytes / streamUs / 1e3:F1} GB/s (best of the run)");
        foreach (var (n, k) in new[] { (256, 2048), (2048, 2048) })
        {
            using var one = new LinearCase(single, n, k, 1, LinearKind.W4A8, groupSize);
            using var two = new LinearCase(backend, n, k, 1, LinearKind.W4A8, groupSize);
            for (int i = 0; i < 64; i++) { one.Linear(); two.Linear(); }
            var (t1, t2, ratio, _) = Interleaved(one.Linear, two.Linear, batches);
            o.WriteLine($"M=1 {n}x{k}: 1 thread {t1.Best:F1} us (med {t1.Median:F1}), {threads} threads {t2.Best:F1} us (med {t2.Median:F1}), ratio {t2.Best / t1.Best:F2} (med {ratio:F2})");
        }
    }

    /// <summary>Best and median batch of one side.</summary>
    internal readonly record struct Side(double Best, double Median);

    /// <summary>A (one-row tiles) against B (multi-row tiles) on the same call.</summary>
    private static (Side A, Side B, double Ratio, double Slow) Interleaved(Action call, int batches)
        => Interleaved(() => { LinearIntKernel.Avx2MaxTileRows = 1; call(); }, () => { LinearIntKernel.Avx2MaxTileRows = Default; call(); }, batches);

    /// <summary>The kernel's default <see cref="LinearIntKernel.Avx2MaxTileRows"/>, read before any A/B changes it.</summary>
    private static readonly int Default = LinearIntKernel.Avx2MaxTileRows;

    /// <summary>
    /// <paramref name="batches"/> pairs of batches of ~2 ms, A B then B A alternately; per pair the ratio B / A.
    /// Also the share of B's single calls slower than 3x its median call (timed in the last pairs).
    /// </summary>
    internal static (Side A, Side B, double Ratio, double Slow) Interleaved(Action a, Action b, int batches)
    {
        a(); b();
        var sw = Stopwatch.StartNew();
        int reps = 0;
        while (sw.Elapsed.TotalMilliseconds < 2 || reps < 2) { b(); reps++; }
        var ta = new double[batches]; var tb = new double[batches]; var ratios = new double[batches];
        for (int i = 0; i < batches; i++)
        {
            if (i % 2 == 0) { ta[i] = Batch(a, reps); tb[i] = Batch(b, reps); }
            else { tb[i] = Batch(b, reps); ta[i] = Batch(a, reps); }
            ratios[i] = tb[i] / ta[i];
        }
        var calls = new double[Math.Max(64, 4 * reps)];
        b();
        for (int i = 0; i < calls.Length; i++)
        {
            long t = Stopwatch.GetTimestamp();
            b();
            calls[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
        }
        double median = Median(calls);
        double slow = calls.Count(x => x > 3 * median) / (double)calls.Length;
        return (new Side(ta.Min(), Median(ta)), new Side(tb.Min(), Median(tb)), Median(ratios), slow);
    }

    /// <summary>Mean microseconds per call over <paramref name="reps"/> calls after one untimed call.</summary>
    private static double Batch(Action call, int reps)
    {
        call();
        long t = Stopwatch.GetTimestamp();
        for (int r = 0; r < reps; r++) call();
        return Stopwatch.GetElapsedTime(t).TotalMicroseconds / reps;
    }

    /// <summary>Every (tile kind, M) past tiered JIT before timing: ≥ 32 calls and ≥ 40 ms each, two passes.</summary>
    private static void WarmUp(CpuBackend backend, int groupSize)
    {
        using var weights = new WeightCopies(backend, 2048, 2048, groupSize, hot: true); // compiling needs no cold copies
        for (int pass = 0; pass < 2; pass++)
            foreach (int m in Roofline.Rows)
            {
                using var c = new LinearCase(backend, weights, m, LinearKind.W4A8);
                foreach (int rows in new[] { 1, Default })
                {
                    LinearIntKernel.Avx2MaxTileRows = rows;
                    var sw = Stopwatch.StartNew();
                    for (int calls = 0; sw.ElapsedMilliseconds < 40 || calls < 32; calls++) c.QuantizeAndLinear();
                }
            }
        LinearIntKernel.Avx2MaxTileRows = Default;
    }

    private static double Median(double[] values)
    {
        var s = (double[])values.Clone();
        Array.Sort(s);
        int c = s.Length;
        return c % 2 == 1 ? s[c / 2] : (s[c / 2 - 1] + s[c / 2]) / 2;
    }
}
