using System.Text.Json;
using System.Text.Json.Nodes;
using QSpec.Benchmarks;
using QSpec.Generation;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;
using QSpec.Kernels.Formats;
using QSpec.Model;
using QSpec.Speculative;

namespace QSpec.DeviceCheck;

/// <summary>
/// Whole-model checks on the real stories260K checkpoint: greedy decoding on the device equals the CPU backend for
/// W4A16 / W4A8 / W4A4, QSpec on the device (W4A4 and W4A8 drafts, auto k, B = 4) equals plain W4A16 on the device,
/// FP32 on the device equals expected_greedy.json, fused ops decode the same tokens as their compositions, and the
/// kernel launches and host syncs of one W4A16 token (stories260K, and TinyLlama-1.1B's structure) with and without fusion.
/// </summary>
internal sealed class ModelChecks(IlgpuBackend device, CheckPlan plan, CheckLog log)
{
    private const string Group = "model";
    private const int Bos = 1;
    private static readonly int[][] Prompts = [[Bos], [Bos, 403, 261], [Bos, 80, 300, 410, 7], [Bos, 29, 29]];

    /// <summary>The measured draft acceptance of the W4A4 QSpec run (used to time QSpec on synthetic weights).</summary>
    public double? Acceptance { get; private set; }

    public void RunAll()
    {
        var fp32 = Llama2cReader.Read(SharedData.DefaultModel);
        var int4 = QuantizeRtn(fp32);
        using var cpu = LlamaModel.Create(int4);
        using var model = LlamaModel.Create(int4, device);
        foreach (var mode in new[] { ExecutionMode.W4A16, ExecutionMode.W4A8, ExecutionMode.W4A4 })
            log.Check(Group, $"stories260k greedy {mode} = cpu", () =>
            {
                var expected = Greedy(cpu, [Bos], mode, plan.GreedyTokens);
                var actual = Greedy(model, [Bos], mode, plan.GreedyTokens);
                return Same(expected, actual);
            });
        // A 20-token prompt: the W4A8 prefill's integer linears have 20 rows, run here on the tensor cores (forced).
        int[] longPrompt = [Bos, .. Enumerable.Range(0, 19).Select(i => 30 + 23 * i % 400)];
        log.Check(Group, "stories260k greedy W4A8, prompt of 20 on the tensor cores = cpu", () => OpChecks.WithIntMma(device, () =>
            Same(Greedy(cpu, longPrompt, ExecutionMode.W4A8, plan.GreedyTokens), Greedy(model, longPrompt, ExecutionMode.W4A8, plan.GreedyTokens))));
        foreach (var draft in new[] { ExecutionMode.W4A4, ExecutionMode.W4A8 })
            log.Check(Group, $"stories260k qspec {draft} auto-k B={plan.QSpecBatch} = w4a16", () => QSpec(model, draft));
        log.Check(Group, "stories260k fp32 = expected_greedy.json", () =>
        {
            using var dense = LlamaModel.Create(fp32, device);
            var expected = ExpectedGreedy().Take(plan.ExpectedTokens).ToArray();
            return Same(expected, Greedy(dense, [Bos], ExecutionMode.Fp32, expected.Length));
        });
        using var composedModel = LlamaModel.Create(int4, new ComposedBackend(device));
        // W4A8 (RmsNormQuantize, the integer fused linears) on a GPU only: the fused group covers them in --sim.
        foreach (var mode in plan.Simulated ? [ExecutionMode.W4A16] : new[] { ExecutionMode.W4A16, ExecutionMode.W4A8 })
            log.Check(Group, $"stories260k greedy {mode} fused = composed", () =>
                Same(Greedy(composedModel, [Bos], mode, plan.GreedyTokens), Greedy(model, [Bos], mode, plan.GreedyTokens)));
        log.Measure(Group, "launches and host syncs per W4A16 decode token", () => CountPerToken(model, composedModel, int4.Config));
        // TinyLlama-1.1B's structure (22 layers, 32 query / 4 KV heads) with its widths shrunk: launches and syncs
        // depend only on the structure, so this counts the real shape's without building 1.1B weights.
        var tiny = SyntheticModel.Shape("tinyllama-1.1b") with { Dim = 64, HiddenDim = 128, VocabSize = 64, SeqLen = 16 };
        using var tinyModel = LlamaModel.Create(SyntheticModel.Create(tiny, groupSize: 64), device);
        using var tinyComposed = LlamaModel.Create(SyntheticModel.Create(tiny, groupSize: 64), new ComposedBackend(device));
        log.Measure(Group, "launches and host syncs per W4A16 decode token, tinyllama-1.1b structure", () => CountPerToken(tinyModel, tinyComposed, tiny));
    }

    private JsonObject QSpec(LlamaModel model, ExecutionMode draft)
    {
        var prompts = Prompts.Take(plan.QSpecBatch).Select(p => (IReadOnlyList<int>)p).ToArray();
        var plain = prompts.Select(p => Greedy(model, p.ToArray(), ExecutionMode.W4A16, plan.QSpecTokens)).ToArray();
        var options = new SpeculativeOptions { DraftMode = draft, AutoDraftLength = true, MaxTokens = plan.QSpecTokens };
        var result = BatchGenerator.Generate(model, prompts, options);
        var stats = result.Statistics!; // always set by the QSpec form
        bool pass = true;
        var rows = new JsonArray();
        for (int b = 0; b < prompts.Length; b++)
        {
            var same = Same(plain[b], result.Tokens[b].ToArray());
            pass &= same["pass"]!.GetValue<bool>();
            rows.Add(same);
        }
        if (draft == ExecutionMode.W4A4) Acceptance = stats.AcceptanceRate;
        return new JsonObject
        {
            ["pass"] = pass, ["sequences"] = rows,
            ["acceptance"] = Math.Round(stats.AcceptanceRate, 4), ["steps"] = stats.Steps,
        };
    }

    /// <summary>
    /// Kernel launches, host waits and host uploads of one W4A16 decode step (forward + argmax) at position 2, with the
    /// fused ops (<paramref name="model"/>) and with their compositions (<paramref name="composed"/>, the same weights
    /// through <see cref="ComposedBackend"/>): after and before fusion, on the same device.
    /// </summary>
    private JsonObject CountPerToken(LlamaModel model, LlamaModel composed, LlamaConfig c)
    {
        var fused = Count(model);
        var plain = Count(composed);
        var o = new JsonObject { ["layers"] = c.Layers, ["heads"] = c.Heads, ["kv_heads"] = c.KvHeads };
        foreach (var (key, value) in fused.ToList())
        {
            fused.Remove(key);
            o[key] = value;
        }
        o["composed"] = plain;
        if (!plan.Simulated || Environment.GetEnvironmentVariable("QSPEC_DEVICECHECK_BATCH_COUNTS") == "1")
        {
            // Slow on the simulator (a minute for both models): off in --sim unless asked for.
            o["batch_step_b8"] = BatchStep(model, 8);
            o["batch_step_b8_composed"] = BatchStep(composed, 8);
            o["qspec_step_b4_k3"] = QSpecStep(model, 4, 3);
        }
        o["note"] = "counted in the backend; the same on CUDA and on the CPU accelerator; 'composed' = the fused ops' default bodies";
        return o;
    }

    /// <summary>
    /// Launches and host waits of one W4A16 decode step of a batch of <paramref name="batch"/> sequences: a greedy batch
    /// generation of 3 tokens minus one of 2 (same prompts, so the prefills cancel).
    /// </summary>
    private JsonObject BatchStep(LlamaModel model, int batch)
    {
        var prompts = BatchPrompts(batch);
        (long Kernels, long Syncs) Run(int tokens) =>
            Counted(() => BatchGenerator.Generate(model, prompts, new GenerationOptions { MaxTokens = tokens, Mode = ExecutionMode.W4A16 }));
        var two = Run(2);
        var three = Run(3);
        return new JsonObject { ["kernels"] = three.Kernels - two.Kernels, ["host_syncs"] = three.Syncs - two.Syncs };
    }

    /// <summary>Prompts [BOS, 5 + b] for b &lt; <paramref name="batch"/>.</summary>
    private static IReadOnlyList<int>[] BatchPrompts(int batch) =>
        Enumerable.Range(0, batch).Select(b => (IReadOnlyList<int>)[Bos, 5 + b]).ToArray();

    /// <summary>Kernel launches and host waits of <paramref name="run"/>, counted from an idle device.</summary>
    private (long Kernels, long Syncs) Counted(Action run)
    {
        device.Synchronize();
        long launches = device.KernelLaunches, syncs = device.HostSyncs;
        run();
        return (device.KernelLaunches - launches, device.HostSyncs - syncs);
    }

    /// <summary>
    /// Launches and host waits of one QSpec step (k W4A8 draft forwards, each followed by one ArgmaxRowsTo that leaves
    /// its tokens on the device for the next, one download of the k · B drafts, and the W4A16 verify of B · (k + 1) rows
    /// with one ArgmaxRows) for <paramref name="batch"/> sequences: every draft accepted (synthetic rate 1, no stop
    /// tokens), so a generation of 2(k + 1) tokens is exactly one full step more than one of k + 1.
    /// </summary>
    private JsonObject QSpecStep(LlamaModel model, int batch, int k)
    {
        var prompts = BatchPrompts(batch);
        (long Kernels, long Syncs, long Steps) Run(int tokens)
        {
            var options = new SpeculativeOptions { DraftMode = ExecutionMode.W4A8, DraftLength = k, MaxTokens = tokens, StopTokens = [] };
            long steps = 0;
            var (kernels, syncs) = Counted(() => steps = SyntheticAcceptance.GenerateBatch(model, prompts, options, rate: 1.0).Statistics!.Steps);
            return (kernels, syncs, steps);
        }
        var one = Run(k + 1);
        var two = Run(2 * (k + 1));
        return new JsonObject
        {
            ["kernels"] = two.Kernels - one.Kernels, ["host_syncs"] = two.Syncs - one.Syncs,
            ["sequence_steps"] = two.Steps - one.Steps, // B: the extra step of each sequence
            ["note"] = $"{k} draft forwards + 1 verify; 2 host waits: the drafts' tokens stay on the device and are read back once, then the verify's argmax rows",
        };
    }

    private JsonObject Count(LlamaModel model)
    {
        using var session = model.CreateSession();
        session.Prefill([Bos, 5], 0, ExecutionMode.W4A16);
        device.Synchronize();
        long launches = device.KernelLaunches, syncs = device.HostSyncs, uploads = device.HostUploads;
        session.Prefill([12], 2, ExecutionMode.W4A16);
        long forwardSyncs = device.HostSyncs - syncs;
        session.Argmax();
        return new JsonObject
        {
            ["kernels"] = device.KernelLaunches - launches,
            ["host_syncs"] = device.HostSyncs - syncs,
            ["host_syncs_in_forward"] = forwardSyncs,
            ["host_uploads"] = device.HostUploads - uploads,
        };
    }

    private static int[] Greedy(LlamaModel model, int[] prompt, ExecutionMode mode, int tokens)
    {
        using var session = model.CreateSession();
        return new Generator(session).Generate(prompt, new GenerationOptions { MaxTokens = tokens, Mode = mode }).ToArray();
    }

    private static JsonObject Same(int[] expected, int[] actual)
    {
        int first = -1;
        for (int i = 0; i < Math.Max(expected.Length, actual.Length) && first < 0; i++)
            if (i >= expected.Length || i >= actual.Length || expected[i] != actual[i]) first = i;
        var o = new JsonObject { ["pass"] = first < 0, ["tokens"] = expected.Length };
        if (first >= 0)
        {
            o["first_difference"] = first;
            o["expected"] = string.Join(' ', expected.Skip(first).Take(8));
            o["actual"] = string.Join(' ', actual.Skip(first).Take(8));
        }
        return o;
    }

    private static int[] ExpectedGreedy()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedData.PathOf("models", "stories260K", "expected_greedy.json")));
        return doc.RootElement.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    /// <summary>Every linear RTN-quantized per output channel, float32 kept (as the test suite's stories260K INT4).</summary>
    internal static LlamaWeights QuantizeRtn(LlamaWeights w)
    {
        LinearWeight Q(LinearWeight l) => l.WithInt4(Int4Matrix.Quantize(l.Dense!, l.Rows, l.Columns, 0), keepDense: true);
        var layers = w.Layers.Select(l => l with { Wq = Q(l.Wq), Wk = Q(l.Wk), Wv = Q(l.Wv), Wo = Q(l.Wo), W1 = Q(l.W1), W2 = Q(l.W2), W3 = Q(l.W3) }).ToArray();
        return new LlamaWeights(w.Config, w.TokenEmbedding, layers, w.FinalNorm, Q(w.Classifier), new QuantizationInfo("rtn", 0, "none", 0));
    }
}
