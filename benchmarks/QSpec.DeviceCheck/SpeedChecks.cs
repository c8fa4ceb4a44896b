using System.Diagnostics;
using System.Text.Json.Nodes;
using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;
using QSpec.Kernels.Formats;
using QSpec.Benchmarks;
using QSpec.Model;
using QSpec.Speculative;

namespace QSpec.DeviceCheck;

/// <summary>
/// Measurements, never assertions: a device-to-device copy (the bandwidth ceiling), launch and sync costs, each linear
/// kernel's µs / GB/s / TOPS at the TinyLlama and Llama-3-8B shapes with weight copies cycled over at least
/// <see cref="CheckPlan.CycleBytes"/> (so each call reads its weights from device memory, not L2), and end-to-end
/// tokens per second on a synthetic model. Times are host wall-clock over many queued calls ended by one synchronize.
/// </summary>
internal sealed class SpeedChecks(IlgpuBackend device, CheckPlan plan, CheckLog log)
{
    private const int GroupSize = 128;
    /// <summary>Forced split-K part counts timed beside the default W4A16 launch.</summary>
    private static readonly int[] SplitParts = [2, 4, 8];
    /// <summary>Seconds the end-to-end group keeps for itself when the kernel group runs long.</summary>
    private const double EndToEndReserve = 150;

    public void RunBasics()
    {
        log.Measure("speed", $"device copy {plan.CopyBytes >> 20} MiB", DeviceCopy);
        log.Measure("speed", "launch and sync costs", LaunchCosts);
    }

    public void RunKernels()
    {
        foreach (var (model, n, k) in plan.SpeedShapes)
        {
            if (!log.HasTime(plan.Simulated ? 0 : EndToEndReserve)) break;
            var w = Int4Matrix.CreateZero(n, k, GroupSize);
            new Random(n ^ k).NextBytes(w.Data);
            w.Scales.AsSpan().Fill(0.01f);
            int copies = (int)Math.Max(1, (plan.CycleBytes + w.SizeInBytes - 1) / w.SizeInBytes);
            var mats = new List<DeviceMatrix>();
            try
            {
                for (int i = 0; i < copies; i++) mats.Add(device.CreateMatrix(w, null, n, k));
                foreach (int m in plan.SpeedMs)
                {
                    if (!log.HasTime(plan.Simulated ? 0 : EndToEndReserve)) break;
                    log.Measure("kernels", $"{model} {n}x{k} m{m}", () => Linears(mats, w, m));
                }
            }
            finally
            {
                foreach (var mat in mats) mat.Dispose();
            }
        }
    }

    public void RunEndToEnd(double? acceptance)
    {
        var config = plan.EndToEndConfig;
        var weights = SyntheticModel.Create(config, groupSize: plan.Simulated ? 64 : GroupSize);
        using var model = LlamaModel.Create(weights, device);
        // The same weights with the fused ops composed from plain ones: what fusion saves end to end (GPU run only; on
        // the simulator launch costs are not a GPU's).
        using var composed = plan.Simulated ? null : LlamaModel.Create(weights, new ComposedBackend(device));
        double rate = acceptance ?? 0.8;
        foreach (int batch in plan.EndToEndBatches)
        {
            var prompts = Enumerable.Range(0, batch)
                .Select(b => (IReadOnlyList<int>)Enumerable.Range(0, 8).Select(i => 1 + (b * 131 + i * 17) % (config.VocabSize - 1)).ToArray()).ToArray();
            string[] names = composed is null ? ["w4a16", "w4a8", "w4a4", "qspec"] : ["w4a16", "w4a8", "w4a4", "qspec", "w4a16-composed"];
            foreach (string name in names)
                log.Measure("end_to_end", $"{plan.EndToEndShape} {name} B={batch}", () =>
                {
                    var m = name.EndsWith("-composed", StringComparison.Ordinal) ? composed! : model;
                    string mode = name.Split('-')[0];
                    Generate(m, prompts, mode, 2, rate); // warm-up
                    long t = Stopwatch.GetTimestamp();
                    long tokens = Generate(m, prompts, mode, plan.EndToEndTokens, rate);
                    double seconds = Stopwatch.GetElapsedTime(t).TotalSeconds;
                    var o = new JsonObject { ["batch"] = batch, ["tokens"] = tokens, ["tok_per_s"] = Math.Round(tokens / seconds, 2) };
                    if (mode == "qspec")
                    {
                        o["synthetic_acceptance"] = Math.Round(rate, 4);
                        o["acceptance_source"] = acceptance is null ? "default 0.8 (the stories260K check did not run)" : "stories260K W4A4 auto-k run above";
                    }
                    return o;
                });
        }
    }

    private static long Generate(LlamaModel model, IReadOnlyList<IReadOnlyList<int>> prompts, string mode, int tokens, double acceptance)
    {
        if (mode == "qspec")
        {
            var options = new SpeculativeOptions { AutoDraftLength = true, MaxTokens = tokens };
            return SyntheticAcceptance.GenerateBatch(model, prompts, options, acceptance).Tokens.Sum(s => (long)s.Count);
        }
        var gen = new GenerationOptions { MaxTokens = tokens, Mode = Enum.Parse<ExecutionMode>(mode, ignoreCase: true) };
        if (prompts.Count == 1)
        {
            using var session = model.CreateSession();
            return new Generator(session).Generate(prompts[0], gen).LongCount();
        }
        return BatchGenerator.Generate(model, prompts, gen).Tokens.Sum(s => (long)s.Count);
    }

    private JsonObject Linears(List<DeviceMatrix> mats, Int4Matrix w, int m)
    {
        int n = w.Rows, k = w.Columns;
        using var x = device.Allocate((long)m * k);
        device.Upload(Data.Random(m * k, m), x);
        using var y = device.Allocate((long)m * n);
        using var q = device.AllocateQuantizedActivations(m, k);
        double weightBytes = w.SizeInBytes, activationBytes = 4.0 * m * (k + n);
        double ops = 2.0 * m * n * k;
        var o = new JsonObject { ["m"] = m, ["n"] = n, ["k"] = k, ["weight_copies"] = mats.Count, ["weight_mib"] = Math.Round(weightBytes / (1 << 20), 2) };
        int next = 0;
        DeviceMatrix Next() => mats[next++ % mats.Count];
        o["w4a16"] = Figures(Time(() => device.LinearW4A16(x, Next(), y, m), mats.Count), weightBytes + activationBytes, ops);
        // Split K both ways: what the rule picks for this shape, and forced part counts, so that the rule's estimate
        // (IlgpuBackend.SplitK.cs) can be checked against the card.
        int quads = Int4Matrix.PadColumns(k) / 32;
        o["split_k_rule_parts"] = device.SplitKParts(n, quads);
        foreach (int parts in SplitParts)
        {
            device.SplitKPartsOverride = (_, _) => parts;
            try
            {
                var f = Figures(Time(() => device.LinearW4A16(x, Next(), y, m), mats.Count), weightBytes + activationBytes, ops);
                f["parts"] = device.SplitKParts(n, quads);
                o[$"w4a16_split{parts}"] = f;
            }
            finally
            {
                device.SplitKPartsOverride = null;
            }
        }
        foreach (int bits in new[] { 8, 4 })
        {
            var quantize = Time(() => device.QuantizeActivations(x, m, k, bits, q), 1);
            device.QuantizeActivations(x, m, k, bits, q);
            var linear = Time(() => device.LinearInt(q, Next(), y, m), mats.Count);
            var f = Figures(linear, weightBytes + m * (k + 4.0 * n), ops);
            f["quantize_us"] = Math.Round(quantize * 1e6, 2);
            o[$"w4a{bits}"] = f;
        }
        // The tensor-core kernel (off by default, IntMmaMinRows) at the same shape from 9 rows, to decide that default.
        if (m >= IlgpuBackend.IntMmaRows)
        {
            device.QuantizeActivations(x, m, k, 8, q);
            o["w4a8_mma"] = OpChecks.WithIntMma(device, () => Figures(Time(() => device.LinearInt(q, Next(), y, m), mats.Count), weightBytes + m * (k + 4.0 * n), ops));
        }
        return o;
    }

    private static JsonObject Figures(double seconds, double bytes, double ops) => new()
    {
        ["us"] = Math.Round(seconds * 1e6, 2),
        ["gb_per_s"] = Math.Round(bytes / seconds / 1e9, 2),
        ["tops"] = Math.Round(ops / seconds / 1e12, 4),
    };

    /// <summary>
    /// Seconds per call: calls queued in passes of <paramref name="pass"/> (one per weight copy), one synchronize per
    /// pass, until at least 10 calls and 0.1 s (one pass on the simulator).
    /// </summary>
    private double Time(Action call, int pass)
    {
        call();
        device.Synchronize();
        long calls = 0;
        long t = Stopwatch.GetTimestamp();
        do
        {
            for (int i = 0; i < pass; i++) call();
            device.Synchronize();
            calls += pass;
        } while (!plan.Simulated && (calls < 10 || Stopwatch.GetElapsedTime(t).TotalSeconds < 0.1) && calls < 100_000);
        return Stopwatch.GetElapsedTime(t).TotalSeconds / calls;
    }

    private JsonObject DeviceCopy()
    {
        long floats = plan.CopyBytes / 4;
        using var a = device.Allocate(floats);
        using var b = device.Allocate(floats);
        double s = Time(() => device.CopyOnDevice(a, b), 4);
        return new JsonObject { ["bytes"] = plan.CopyBytes, ["us"] = Math.Round(s * 1e6, 2), ["gb_per_s"] = Math.Round(2.0 * plan.CopyBytes / s / 1e9, 2), ["note"] = "read + write bytes per second" };
    }

    private JsonObject LaunchCosts()
    {
        using var one = device.Allocate(32000);
        using var two = device.Allocate(32);
        int r = plan.LaunchRepeats;
        double launch = Time(() => device.Add(one, one, 1), r);
        long t = Stopwatch.GetTimestamp();
        for (int i = 0; i < r; i++) device.Synchronize();
        double sync = Stopwatch.GetElapsedTime(t).TotalSeconds / r;
        t = Stopwatch.GetTimestamp();
        for (int i = 0; i < r; i++) device.Argmax(one, 0, 32000);
        double argmax = Stopwatch.GetElapsedTime(t).TotalSeconds / r;
        var row = new float[32000];
        t = Stopwatch.GetTimestamp();
        for (int i = 0; i < r; i++) device.Download(one, row);
        double download = Stopwatch.GetElapsedTime(t).TotalSeconds / r;
        t = Stopwatch.GetTimestamp();
        for (int i = 0; i < r; i++) device.Embedding(one, [i % 1000], 32, two);
        device.Synchronize();
        double indexed = Stopwatch.GetElapsedTime(t).TotalSeconds / r;
        return new JsonObject
        {
            ["repeats"] = r,
            ["queued_tiny_kernel_us"] = Math.Round(launch * 1e6, 3),
            ["idle_synchronize_us"] = Math.Round(sync * 1e6, 3),
            ["argmax_32000_round_trip_us"] = Math.Round(argmax * 1e6, 3),
            ["download_32000_floats_us"] = Math.Round(download * 1e6, 3),
            ["upload_ids_plus_kernel_us"] = Math.Round(indexed * 1e6, 3),
        };
    }
}
