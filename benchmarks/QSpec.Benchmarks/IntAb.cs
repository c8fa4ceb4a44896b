using System.Diagnostics;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;

namespace QSpec.Benchmarks;

/// <summary>
/// `int [threads] [groupSize] [batches]`: the integer linear (W4A8) on the TinyLlama-1.1B shapes with fp32 scales (A,
/// <see cref="CpuBackendOptions.HalfPrecisionScales"/> off) against fp16 scales (B, on) and the streaming read, all
/// measured in the same run and interleaved batch by batch (A, B, A, B, ...) so both see the same machine load (the
/// machine is shared and noisy; only ratios inside one run mean anything). Both sides hold the same fp16-exact scales, so
/// they compute the same bits; only the scale bytes read differ. Weights are cycled over cold copies as in <see cref="LinearCase"/>.
/// </summary>
/// <remarks>
/// Bytes per call: the nibbles plus 4 (A) or 2 (B) bytes per scale, i.e. 0.625 and 0.5625 bytes per weight at G = 32;
/// a purely bandwidth-bound kernel would show B/A = 0.9 there ("ideal"). "B/A best" divides the best times, "B/A med"
/// is the median of the per-batch ratios (each batch's A and B run back to back).
/// </remarks>
public static class IntAb
{
    /// <summary>The scale of every synthetic weight: an fp16 value, so the B side may read it as fp16.</summary>
    private static readonly float Scale = (float)(Half)0.01f;

    public static void Run(TextWriter o, int threads, int groupSize, int batches)
    {
        using var a = new CpuBackend(new CpuBackendOptions { MaxThreads = threads, HalfPrecisionScales = false });
        using var b = new CpuBackend(new CpuBackendOptions { MaxThreads = threads, HalfPrecisionScales = true });
        var data = GC.AllocateUninitializedArray<float>(Roofline.StreamBytes / sizeof(float), pinned: true);
        data.AsSpan().Fill(1f);
        double streamUs = double.MaxValue;
        void Stream() { Settle(); streamUs = Math.Min(streamUs, Time(() => Roofline.Read(data, threads), 1)); }
        Stream();
        o.WriteLine($"int A/B fp32 vs fp16 scales, {b.Name}, G={groupSize}, best of {batches} interleaved batches");
        if (b.Name.Contains("int scalar")) o.WriteLine("(scalar integer kernel here: fp16 scales are not read, A and B run the same code)");
        o.WriteLine($"{"N x K",-11} {"M",2} {"quant",6} {"A us",7} {"B us",7} {"B/A best",8} {"B/A med",7} {"ideal",5} {"A GB/s",6} {"%strm",5} {"B GB/s",6} {"%strm",5}");
        var ratios = new List<double>();
        foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
            foreach (int m in new[] { 1, 2, 4, 8 })
            {
                using var ca = new LinearCase(a, n, k, m, LinearKind.W4A8, groupSize, Scale);
                using var cb = new LinearCase(b, n, k, m, LinearKind.W4A8, groupSize, Scale);
                if (!HalfScales.AreExact(cb.Matrix.Scales)) throw new InvalidOperationException("The B weights' scales are not fp16 values.");
                using var x = a.Allocate((long)m * k);
                using var q = a.AllocateQuantizedActivations(m, k);
                // Touch every cold copy once first: their scale layouts are built on first use.
                for (long i = 0; i <= LinearCase.ColdBytes / cb.Matrix.SizeInBytes + 1; i++) { ca.Linear(); cb.Linear(); }
                double ta = double.MaxValue, tb = double.MaxValue, quant = double.MaxValue;
                ratios.Clear();
                for (int batch = 0; batch < batches; batch++)
                {
                    double ra = Side(ca.Linear, 5), rb = Side(cb.Linear, 5);
                    ta = Math.Min(ta, ra); tb = Math.Min(tb, rb);
                    ratios.Add(rb / ra);
                    quant = Math.Min(quant, Time(() => a.QuantizeActivations(x, m, k, 8, q), 20));
                    if (batch % 8 == 0) Stream();
                }
                double stream = Roofline.StreamBytes / streamUs / 1e3;
                double bytesA = FloatBytes(ca.Matrix), bytesB = HalfBytes(cb.Matrix), gbA = bytesA / ta / 1e3, gbB = bytesB / tb / 1e3;
                o.WriteLine($"{n + "x" + k,-11} {m,2} {quant,6:F2} {ta,7:F1} {tb,7:F1} {tb / ta,8:F3} {Median(ratios),7:F3} {bytesB / bytesA,5:F3} " +
                            $"{gbA,6:F1} {100 * gbA / stream,5:F0} {gbB,6:F1} {100 * gbB / stream,5:F0}");
            }
        o.WriteLine($"stream read {Roofline.StreamBytes / streamUs / 1e3:F1} GB/s (best of the run)");
        Hot(o, a, b, groupSize, batches);
        NormQuantize(o, a, batches);
    }

    /// <summary>Bytes a call reads with fp32 scales: nibbles plus 4 per scale.</summary>
    private static double FloatBytes(Int4Matrix w) => w.Data.LongLength + 4.0 * w.Scales.LongLength;

    /// <summary>Bytes a call reads with fp16 scales: nibbles plus 2 per scale.</summary>
    private static double HalfBytes(Int4Matrix w) => w.Data.LongLength + 2.0 * w.Scales.LongLength;

    /// <summary>
    /// The kernel on weights that stay in L2 (one 256x2048 copy), A and B interleaved: the compute rate, the ceiling the
    /// stream cannot lift, and what the fp16 conversion costs when bytes are not the limit.
    /// </summary>
    private static void Hot(TextWriter o, IBackend a, IBackend b, int groupSize, int batches)
    {
        const int n = 256, k = 2048;
        var w = Int4Matrix.CreateZero(n, k, groupSize);
        new Random(3).NextBytes(w.Data);
        w.Scales.AsSpan().Fill(Scale);
        using var da = a.CreateMatrix(w, null, n, k);
        using var db = b.CreateMatrix(w, null, n, k);
        foreach (int m in new[] { 1, 2, 4, 8 })
        {
            var init = new float[m * k];
            for (int i = 0; i < init.Length; i++) init[i] = MathF.Sin(i);
            using var xa = a.Allocate((long)m * k); using var xb = b.Allocate((long)m * k);
            a.Upload(init, xa); b.Upload(init, xb);
            using var ya = a.Allocate((long)m * n); using var yb = b.Allocate((long)m * n);
            using var qa = a.AllocateQuantizedActivations(m, k); using var qb = b.AllocateQuantizedActivations(m, k);
            a.QuantizeActivations(xa, m, k, 8, qa); b.QuantizeActivations(xb, m, k, 8, qb);
            double ta = double.MaxValue, tb = double.MaxValue;
            for (int batch = 0; batch < batches; batch++)
            {
                ta = Math.Min(ta, Side(() => a.LinearInt(qa, da, ya, m), 20));
                tb = Math.Min(tb, Side(() => b.LinearInt(qb, db, yb, m), 20));
            }
            o.WriteLine($"hot {n}x{k} M={m}: A {ta:F2} us ({FloatBytes(w) / ta / 1e3:F1} GB/s), B {tb:F2} us ({HalfBytes(w) / tb / 1e3:F1} GB/s), B/A {tb / ta:F3}");
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

    private static double Median(List<double> values)
    {
        values.Sort();
        int c = values.Count;
        return c % 2 == 1 ? values[c / 2] : (values[c / 2 - 1] + values[c / 2]) / 2;
    }

    /// <summary>
    /// One side's batch: <see cref="Settle"/>, one untimed call (wakes this backend's workers), then the timed calls. A and B
    /// are two backends with a worker pool each, whose idle workers spin for a quarter millisecond after every job: timed
    /// right after A, B shared the two cores with A's spinning workers and its small calls looked up to 1.5x slower.
    /// </summary>
    private static double Side(Action a, int reps)
    {
        Settle();
        a();
        return Time(a, reps);
    }

    /// <summary>Waits past the worker pools' spin (0.25 ms), so the other backend's idle workers have blocked.</summary>
    private static void Settle() => Thread.Sleep(2);

    /// <summary>Mean microseconds per call over <paramref name="reps"/> calls.</summary>
    private static double Time(Action a, int reps)
    {
        long t = Stopwatch.GetTimestamp();
        for (int r = 0; r < reps; r++) a();
        return Stopwatch.GetElapsedTime(t).TotalMicroseconds / reps;
    }

    private static double Time(Func<float> f, int reps) => Time(() => { f(); }, reps);
}
