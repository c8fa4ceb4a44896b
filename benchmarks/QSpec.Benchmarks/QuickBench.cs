using System.Diagnostics;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `-- quick`: a short non-BDN run (well under two minutes) for a shared machine. Each case is warmed up, then timed as
/// the best of 31 batches of about 1 ms (or one call) each. Integer modes are timed with their activation quantization.
/// </summary>
public static class QuickBench
{
    /// <summary>Prints the bandwidth and linear tables; <paramref name="threads"/> caps the backend's threads (0 = all cores).</summary>
    /// <param name="shape">Only this "NxK" shape, or null / "all" for all.</param>
    /// <param name="path">The kernel path to force (default: the best available).</param>
    public static void Run(TextWriter o, int threads = 0, string? shape = null, CpuKernelPath path = CpuKernelPath.Auto)
    {
        if (shape == "all") shape = null;
        using var backend = new CpuBackend(new CpuBackendOptions { MaxThreads = threads > 0 ? threads : Environment.ProcessorCount, Path = path });
        o.WriteLine($"backend: {backend.Name}; {Environment.ProcessorCount} cores; weights INT4 G={LinearCase.GroupSize}, cycled over {LinearCase.ColdBytes >> 20} MiB of copies (cold L3); times are the best of 31 ~1 ms batches (shared cores: noisy)");
        var data = GC.AllocateUninitializedArray<float>(BandwidthBenchmarks.Bytes / sizeof(float), pinned: true);
        data.AsSpan().Fill(1f);
        double bw1 = BandwidthBenchmarks.Bytes / Median(() => BandwidthBenchmarks.Read(data, 1)) / 1e3;
        double bwAll = BandwidthBenchmarks.Bytes / Median(() => BandwidthBenchmarks.Read(data, Environment.ProcessorCount)) / 1e3;
        o.WriteLine($"stream read 256 MiB: {bw1:F1} GB/s (1 thread), {bwAll:F1} GB/s ({Environment.ProcessorCount} threads)");
        // The first timed case of a process ran up to 2x slow; warm up on a throwaway one.
        using (var warm = new LinearCase(backend, 2048, 2048, 2, LinearKind.W4A16)) Median(warm.QuantizeAndLinear);
        o.WriteLine();
        o.WriteLine($"{"N x K",-11} {"M",3} | {"W4A16 us",9} {"GB/s",6} {"GOP/s",6} | {"W4A4 us",9} {"GOP/s",6} {"/A16",5} | {"W4A8 us",9} {"GOP/s",6} {"/A16",5}");
        foreach (var (n, k) in LinearCase.Shapes)
        {
            if (shape is not null && shape != $"{n}x{k}") continue;
            double a16M1 = 0;
            foreach (int m in LinearCase.Ms)
            {
                double[] us = new double[3];
                foreach (LinearKind kind in Enum.GetValues<LinearKind>())
                {
                    using var c = new LinearCase(backend, n, k, m, kind);
                    us[(int)kind] = Median(c.QuantizeAndLinear);
                }
                if (m == 1) a16M1 = us[0];
                double gop(double t) => 2.0 * m * n * k / t / 1e3;
                string rel = m == 1 ? "" : $" (x{us[0] / a16M1:F2} of M=1)";
                o.WriteLine($"{n + "x" + k,-11} {m,3} | {us[0],9:F1} {ThroughputColumns.Bytes(n, k) / us[0] / 1e3,6:F1} {gop(us[0]),6:F1} | " +
                            $"{us[1],9:F1} {gop(us[1]),6:F1} {us[1] / us[0],5:F2} | {us[2],9:F1} {gop(us[2]),6:F1} {us[2] / us[0],5:F2}{rel}");
            }
        }
    }

    /// <summary>Best-of-31-batches microseconds per call (the minimum is the least disturbed by other load).</summary>
    private static double Median(Action action)
    {
        action();
        var sw = Stopwatch.StartNew();
        int reps = 0;
        while (sw.Elapsed.TotalMilliseconds < 1 || reps < 1) { action(); reps++; }
        var samples = new double[31];
        for (int s = 0; s < samples.Length; s++)
        {
            sw.Restart();
            for (int r = 0; r < reps; r++) action();
            samples[s] = sw.Elapsed.TotalMicroseconds / reps;
        }
        Array.Sort(samples);
        return samples[0];
    }

    private static double Median(Func<float> read) => Median(() => { read(); });
}
