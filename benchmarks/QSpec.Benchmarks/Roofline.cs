using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;

namespace QSpec.Benchmarks;

/// <summary>
/// Napkin-math roofline of this machine (llm.c style): the streaming-read bandwidth and the peak rates of the
/// instruction mixes the linear kernels are built from, then every kernel row with its bytes, its ops and its share
/// of the limit that binds it. Shared by the benchmarks' <c>quick</c> command and <c>qspec bench --kernels</c>.
/// </summary>
/// <remarks>
/// Limits, each measured on <c>threads</c> threads at once, registers only except the stream, at the vector width of
/// the kernel path the backend runs (<see cref="RooflineProbes"/>: 512-bit on AVX-512, 256-bit on AVX2-only machines):
/// <list type="bullet">
/// <item>stream: GB/s summing a <see cref="StreamBytes"/> array (more than the last-level cache), the ceiling of every M = 1 kernel;</item>
/// <item>int8 dot: vpmaddubsw + vpmaddwd + vpaddd chains (vpdpbusd with AVX-VNNI), counted as 2 ops per byte product (W4A4/W4A8);</item>
/// <item>fma: vfmadd chains, 2 flops per lane (the W4A16 and F32 inner loop);</item>
/// <item>dequant: the W4A16 kernel's per-weight work in the form the kernels use, each vector of weights consumed by one
/// add (which stands for the first row's FMA, on the same ports): the denormal form (an AND per vector of weights and
/// one shift per block) where <see cref="DenormalFloats.Enabled"/>, else a shift and a vpternlogd per 16 weights on
/// AVX-512, a shift, an and and an or per 8 on AVX2.</item>
/// </list>
/// The scalar path has no probe: its compute columns print "-".
/// A kernel's time bound is max(bytes / stream, compute) with compute = ops / dot peak (integer kernels) or
/// weights / dequant rate + (M − 1) · 2 · weights / fma peak (W4A16, which dequantizes each weight once per call and
/// whose first row's FMAs the dequant probe's adds already count: until 8 Dec 2026 they were counted twice, and W4A16
/// M = 1 read 127-137 % of "compute" on an Intel Xeon that runs the fold form); "% roof" is that bound
/// over the measured time. The limits are the best of 31 batches of ~1 ms (on a shared machine the minimum is the least
/// disturbed); kernel rows are medians of interleaved best-of rounds (see <see cref="Run(TextWriter, int, (string, int, int)[], IReadOnlyList{int}, CpuKernelPath)"/>).
/// </remarks>
public static unsafe class Roofline
{
    /// <summary>
    /// The measured limits; a rate is 0 where the kernel path has no SIMD probe (scalar), and the labels name the
    /// instruction mix each rate was measured with (the vector width of the path that runs).
    /// </summary>
    public sealed record Limits(double StreamGBs, double DotGops, double FmaGflops, double DequantGweights,
                                string DotLabel, string FmaLabel, string DequantLabel);

    /// <summary>The TinyLlama-1.1B projections: wq/wo, wk/wv, w1/w3, w2, classifier.</summary>
    public static readonly (string Name, int N, int K)[] TinyLlamaShapes =
        [("wq,wo", 2048, 2048), ("wk,wv", 256, 2048), ("w1,w3", 5632, 2048), ("w2", 2048, 5632), ("cls", 32000, 2048)];

    /// <summary>Rows per call benchmarked: decode, and the verify widths of k = 1, 3, 7.</summary>
    public static readonly int[] Rows = [1, 2, 4, 8];

    /// <summary>
    /// Measures the limits on <paramref name="threads"/> threads with the probes of the given resolved kernel paths (those
    /// of the backend the table times: an AVX2-only machine gets 256-bit probes, not zeros).
    /// </summary>
    public static Limits Measure(int threads, CpuKernelPath floatPath, CpuKernelPath intPath)
    {
        double stream = StreamGBs(threads);
        const int iterations = 1 << 16;
        // Rate of a probe on every thread at once, in units of its work per iteration per microsecond / 1e3 (G per s).
        double Rate(RooflineProbes.Probe? p)
            => p is null ? 0 : p.WorkPerIteration * iterations * threads / Best(() => Parallel(threads, () => p.Body(iterations))) / 1e3;
        var (dot, fma, deq) = (RooflineProbes.IntDot(intPath), RooflineProbes.MultiplyAdd(floatPath), RooflineProbes.Dequant(floatPath));
        return new Limits(stream, Rate(dot), Rate(fma), Rate(deq),
                          dot?.Label ?? "int8 dot (scalar: no probe)", fma?.Label ?? "fma (scalar: no probe)", deq?.Label ?? "W4A16 dequant (scalar: no probe)");
    }

    /// <summary>Group sizes of the kernel table by default: GGUF Q4_0's 32 (the case compared with llama.cpp) and 128.</summary>
    public static readonly int[] DefaultGroupSizes = [32, LinearCase.GroupSize];

    /// <summary>Rounds per kernel row; the row reports the median of the rounds' best-of-<see cref="BatchesPerRound"/> times.</summary>
    public const int Rounds = 5;
    /// <summary>Timed batches (of ~1 ms) per round; the round keeps the least disturbed (fastest) one.</summary>
    public const int BatchesPerRound = 7;

    /// <summary><see cref="Run(TextWriter, int, (string, int, int)[], IReadOnlyList{int}, CpuKernelPath)"/> at one group size.</summary>
    public static void Run(TextWriter o, int threads, (string Name, int N, int K)[]? shapes, int groupSize, CpuKernelPath path = CpuKernelPath.Auto)
        => Run(o, threads, shapes, [groupSize], path);

    /// <summary>
    /// Prints the limits and the kernel table for <paramref name="shapes"/> at each of <paramref name="groupSizes"/>
    /// (0 = per output channel) on a CPU backend with <paramref name="threads"/> threads.
    /// </summary>
    /// <remarks>
    /// Robust to a shared machine: for one shape every (group size, mode, M) case is built first, then
    /// <see cref="Rounds"/> rounds time each case in turn (best of <see cref="BatchesPerRound"/> batches, the starting
    /// case rotating per round), so load that comes and goes hits every mode and M alike; a row is the median of its rounds.
    /// </remarks>
    public static void Run(TextWriter o, int threads, (string Name, int N, int K)[]? shapes = null, IReadOnlyList<int>? groupSizes = null,
                           CpuKernelPath path = CpuKernelPath.Auto)
    {
        shapes ??= TinyLlamaShapes;
        groupSizes ??= DefaultGroupSizes;
        foreach (int g in groupSizes)
            if (g < 0) throw new ArgumentOutOfRangeException(nameof(groupSizes), g, "A group size must be 0 (per channel) or positive.");
        using var backend = new CpuBackend(new CpuBackendOptions { MaxThreads = threads, Path = path });
        var l = Measure(threads, backend.FloatPath, backend.IntPath);
        o.WriteLine($"roofline, {threads} threads, {backend.Name}: stream read {l.StreamGBs:F1} GB/s; {l.DotLabel} {l.DotGops:F0} GOP/s; " +
                    $"{l.FmaLabel} {l.FmaGflops:F0} GFLOP/s; {l.DequantLabel} {l.DequantGweights:F1} G weights/s");
        o.WriteLine($"weights INT4 at G = {string.Join(", ", groupSizes.Select(g => g == 0 ? "per channel (0)" : g.ToString()))}, cycled over {LinearCase.ColdBytes >> 20} MiB " +
                    "of copies (read from memory); integer modes include activation quantization. Every scale is an fp16 value, as in GGUF " +
                    "Q4_0: the integer kernels read the scales as fp16 (2 B each), W4A16 as fp32 (4 B; its default), and MB counts those bytes.");
        o.WriteLine($"us = median of {Rounds} interleaved rounds, each the best of {BatchesPerRound} ~1 ms batches; xM=1 = us / us at M = 1 (same G, mode).");
        o.WriteLine($"{"shape",-7} {"N x K",-11} {"G",3} {"M",2} {"mode",-5} {"us",8} {"MB",6} {"GB/s",6} {"%bw",4} {"GOP/s",6} {"%cmp",4} {"%roof",5} {"xM=1",5}");
        var kinds = new[] { LinearKind.W4A16, LinearKind.W4A8, LinearKind.W4A4 };
        WarmUp(backend, kinds, groupSizes);
        foreach (var (name, n, k) in shapes)
        {
            var us = new Dictionary<(int G, LinearKind Kind, int M), double>();
            var bytes = new Dictionary<(int G, LinearKind Kind), double>();
            // Every (G, mode, M) case of the shape at once, timed in the same rounds: the xM=1 ratios then compare times
            // from one window. Timed one M at a time, a compile or another process that lasted one M's phase made M = 4
            // read 17× M = 1 on a loaded host while M = 8 read 7×. The cases of one G share one set of cold copies
            // (ColdBytes per G, not per case: 24 × ColdBytes would not fit a small machine).
            var copies = groupSizes.ToDictionary(g => g, g => new WeightCopies(backend, n, k, g, HalfScale));
            var cases = Rows.SelectMany(m => groupSizes.SelectMany(g => kinds.Select(kind => (G: g, Kind: kind, M: m, Case: new LinearCase(backend, copies[g], m, kind))))).ToArray();
            try
            {
                var rounds = cases.Select(_ => new double[Rounds]).ToArray();
                foreach (var c in cases) c.Case.TouchEveryCopy(); // first use of every copy (its scale layout) outside the timing
                for (int r = 0; r < Rounds; r++)
                    for (int j = 0; j < cases.Length; j++)
                    {
                        int i = (j + r) % cases.Length;
                        rounds[i][r] = Best(cases[i].Case.QuantizeAndLinear, BatchesPerRound);
                    }
                for (int i = 0; i < cases.Length; i++)
                {
                    Array.Sort(rounds[i]);
                    us[(cases[i].G, cases[i].Kind, cases[i].M)] = rounds[i][Rounds / 2];
                    var w = cases[i].Case.Matrix;
                    bytes[(cases[i].G, cases[i].Kind)] = w.Data.LongLength + (cases[i].Kind == LinearKind.W4A16 ? 4.0 : 2.0) * w.Scales.LongLength;
                }
            }
            finally
            {
                foreach (var c in cases) c.Case.Dispose();
                foreach (var c in copies.Values) c.Dispose();
                // The copies are pinned arrays: without a collection here the next shape's copies came on top of them
                // (`bench --kernels --group-size 32` at 600 MiB of copies, 8 Dec 2026: 3.1 GB resident without, 1.85 GB with).
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
            }
            foreach (int g in groupSizes)
                foreach (var kind in kinds)
                    foreach (int m in Rows)
                    {
                        double t = us[(g, kind, m)], b = bytes[(g, kind)], ops = 2.0 * m * n * k;
                        double memUs = b / l.StreamGBs / 1e3;
                        // No compute bound where the path has no probe (scalar): "-" rather than a division by zero.
                        double cmpUs = kind == LinearKind.W4A16
                            ? (l.DequantGweights > 0 && l.FmaGflops > 0 ? (double)n * k / l.DequantGweights / 1e3 + 2.0 * (m - 1) * n * k / l.FmaGflops / 1e3 : double.NaN)
                            : (l.DotGops > 0 ? ops / l.DotGops / 1e3 : double.NaN);
                        double bound = double.IsNaN(cmpUs) ? memUs : Math.Max(memUs, cmpUs);
                        string cmp = double.IsNaN(cmpUs) ? "-" : (100 * cmpUs / t).ToString("F0");
                        o.WriteLine($"{name,-7} {n + "x" + k,-11} {g,3} {m,2} {kind.ToString().ToLowerInvariant(),-5} {t,8:F1} {b / 1e6,6:F2} {b / t / 1e3,6:F1} " +
                                    $"{100 * memUs / t,4:F0} {ops / t / 1e3,6:F1} {cmp,4} {100 * bound / t,5:F0} {t / us[(g, kind, 1)],5:F2}");
                    }
        }
    }

    /// <summary>
    /// Runs every kernel the table times (each mode, M and group size, on a 2048 × 2048 matrix) for ≥ 32 calls and
    /// ≥ 40 ms, in two passes a whole pass apart, so that each is past tiered JIT compilation (≥ 30 calls, then a
    /// background compile) before any row is timed: without it the first shape's integer rows at M = 1-2 read 3-10× slow
    /// (tier-0 code) while M = 4 of the same shape did not.
    /// </summary>
    private static void WarmUp(CpuBackend backend, LinearKind[] kinds, IReadOnlyList<int> groupSizes)
    {
        // One hot matrix per G: the warm-up compiles the kernels' code paths, it needs no cold copies (24 cases with
        // their own copies each allocated and dropped 24 × ColdBytes: 4.5 GB resident at 600 MiB, 8 Dec 2026).
        var weights = groupSizes.ToDictionary(g => g, g => new WeightCopies(backend, 2048, 2048, g, HalfScale, hot: true));
        try
        {
            for (int pass = 0; pass < 2; pass++)
                foreach (int g in groupSizes)
                    foreach (var kind in kinds)
                        foreach (int m in Rows)
                        {
                            using var c = new LinearCase(backend, weights[g], m, kind);
                            var sw = Stopwatch.StartNew();
                            int calls = 0;
                            while (sw.ElapsedMilliseconds < 40 || calls < 32) { c.QuantizeAndLinear(); calls++; }
                        }
        }
        finally
        {
            foreach (var w in weights.Values) w.Dispose();
        }
    }

    /// <summary>
    /// The scale of every weight of the table: an fp16 value, so the integer kernels take their fp16-scale path (the one a
    /// GGUF Q4_0 model and the synthetic bench models use; <see cref="CpuBackendOptions.HalfPrecisionScales"/>). Before,
    /// 0.01f (not an fp16 value) made the integer rows time the fp32-scale path, 10 % more bytes than a Q4_0 decode reads.
    /// </summary>
    private static readonly float HalfScale = (float)(Half)0.01f;

    /// <summary>Bytes of the streamed array: <see cref="ColdMemory.Bytes"/> (more than the last-level cache).</summary>
    public static readonly int StreamBytes = (int)ColdMemory.Bytes;

    /// <summary>The streaming read on <paramref name="threads"/> threads in GB/s: <see cref="StreamBytes"/> of fresh memory, the best of 31 batches.</summary>
    public static double StreamGBs(int threads)
    {
        var data = GC.AllocateUninitializedArray<float>(StreamBytes / sizeof(float), pinned: true);
        data.AsSpan().Fill(1f);
        return StreamBytes / Best(() => Read(data, threads)) / 1e3;
    }

    /// <summary>Sums <paramref name="data"/> in <paramref name="threads"/> contiguous parts (independent vector accumulators).</summary>
    public static float Read(float[] data, int threads)
    {
        if (threads == 1) return Sum(data);
        var parts = new float[threads];
        System.Threading.Tasks.Parallel.For(0, threads, t =>
        {
            int len = data.Length / threads;
            parts[t] = Sum(data.AsSpan(t * len, len));
        });
        return parts.Sum();
    }

    /// <summary>
    /// Sums <paramref name="x"/> with independent accumulators: 512-bit loads with a prefetch 4 KiB ahead where AVX-512
    /// runs (as the kernels read), else 256-bit loads. On the Intel Xeon guest (8 Dec 2026) the 256-bit loop without a
    /// prefetch read 21 GB/s on 2 threads and this one 24-25 GB/s (one process, interleaved): the prefetching kernels
    /// had read 16-22 GB/s against a "stream" of 12-16, i.e. over 100 % of a ceiling that was not one.
    /// </summary>
    private static float Sum(ReadOnlySpan<float> x)
    {
        int i = 0;
        fixed (float* p = x)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                const int ahead = 1024; // floats: 4 KiB; the last 4 KiB is read without a prefetch past the array
                Vector512<float> a = default, b = default, c = default, d = default;
                for (; i + 64 <= x.Length; i += 64)
                {
                    if (i + 64 + ahead <= x.Length)
                        for (int l = 0; l < 64; l += 16) Sse.Prefetch0(p + i + ahead + l);
                    a += Vector512.Load(p + i); b += Vector512.Load(p + i + 16);
                    c += Vector512.Load(p + i + 32); d += Vector512.Load(p + i + 48);
                }
                float s = Vector512.Sum(a + b + c + d);
                for (; i < x.Length; i++) s += p[i];
                return s;
            }
            Vector256<float> e = default, f = default, g = default, h = default;
            for (; i + 32 <= x.Length; i += 32)
            {
                e += Vector256.Load(p + i); f += Vector256.Load(p + i + 8);
                g += Vector256.Load(p + i + 16); h += Vector256.Load(p + i + 24);
            }
            float t = Vector256.Sum(e + f + g + h);
            for (; i < x.Length; i++) t += p[i];
            return t;
        }
    }

    /// <summary>Microseconds per call: the best of <paramref name="batches"/> batches of ~1 ms (at least one call each).</summary>
    public static double Best(Action action, int batches = 31)
    {
        action();
        var sw = Stopwatch.StartNew();
        int reps = 0;
        while (sw.Elapsed.TotalMilliseconds < 1 || reps < 1) { action(); reps++; }
        double best = double.MaxValue;
        for (int s = 0; s < batches; s++)
        {
            sw.Restart();
            for (int r = 0; r < reps; r++) action();
            best = Math.Min(best, sw.Elapsed.TotalMicroseconds / reps);
        }
        return best;
    }

    private static double Best(Func<float> f) => Best(() => { f(); });

    private static void Parallel(int threads, Func<int> body)
    {
        if (threads == 1) { body(); return; }
        System.Threading.Tasks.Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => body());
    }
}
