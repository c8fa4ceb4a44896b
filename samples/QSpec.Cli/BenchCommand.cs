using System.CommandLine;
using System.Text.Json;
using QSpec.Inference;
using QSpec.Model;

namespace QSpec.Cli;

/// <summary>
/// <c>qspec bench</c>: forward timings (decode per mode, (k+1)-token verify, c and v) and end-to-end generation
/// throughput per mode (w4a16, w4a4, w4a8, fp32, qspec), on a real model or on synthetic weights in real shapes.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var common = new CommonOptions();
        var synthetic = new Option<string?>("--synthetic") { Description = $"Random INT4 weights in a real shape ({string.Join(", ", QSpec.Benchmarks.SyntheticModel.Shapes.Keys)}); for timing only." };
        var modes = new Option<string>("--modes", "--mode") { Description = "Comma-separated: fp32, w4a16, w4a4, w4a8, qspec.", DefaultValueFactory = _ => "w4a16,w4a4,qspec" };
        var batch = new Option<int>("--batch") { Description = "Sequences generated together (1..32).", DefaultValueFactory = _ => 1 };
        var prompts = new Option<string?>("--prompts") { Description = "Text file of prompts (paragraphs; the first 8 words of each). Default: TinyStories validation head." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens generated per sequence.", DefaultValueFactory = _ => 128 };
        var draftLength = new Option<string>("--draft-length") { Description = "QSpec k (0..16) or auto (default: chosen online from measured costs and acceptance).", DefaultValueFactory = _ => DraftOptions.Auto };
        var draftBits = new Option<string>("--draft-bits") { Description = "QSpec draft activation bits: 4 (W4A4), 8 (W4A8) or auto (chosen per step from measured cost and acceptance).", DefaultValueFactory = _ => DraftOptions.Auto };
        var acceptance = new Option<double?>("--synthetic-acceptance", "--acceptance") { Description = "SYNTHETIC shapes only: accept each draft token with this probability given the earlier ones were (vLLM-style synthetic rejection sampler). Times the real loop at that rate; never a quality claim. Mean accepted length for k drafts is p + p^2 + ... + p^k." };
        var repeats = new Option<int>("--repeats") { Description = "Timed repetitions per forward measurement (median reported).", DefaultValueFactory = _ => 7 };
        var runs = new Option<int>("--runs") { Description = "Generation rounds, each timing every mode, interleaved (median decode tokens/s reported).", DefaultValueFactory = _ => 3 };
        var groupSize = new Option<string?>("--group-size") { Description = $"INT4 group size(s), 0 = per output channel. --synthetic: of the random weights (one value; default {QSpec.Benchmarks.SyntheticModel.DefaultGroupSize}, GGUF Q4_0's, so the shape compares like for like with llama.cpp Q4_0). --kernels: a comma-separated list, rows for each (default {string.Join(",", QSpec.Benchmarks.Roofline.DefaultGroupSizes)})." };
        var forwardOnly = new Option<bool>("--forward-only") { Description = "Only the forward timings (c and v), no generation." };
        var kernels = new Option<bool>("--kernels") { Description = "Only the roofline (stream bandwidth, instruction-mix peaks) and the CPU linear kernels on the TinyLlama-1.1B shapes, each with bytes, ops and % of its limit. Needs about 2 GB of memory per group size (weights cycled over 256 MiB to 1 GiB of copies, twice the last-level cache, so that they are read from memory; 1.85 GB resident at 600 MiB)." };
        var plot = new Option<string?>("--plot") { Description = "Also draw a PNG: QSpec acceptance per draft position and tokens/s per mode." };
        var threads = new Option<int>("--threads") { Description = "CPU threads (default: all cores).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var tableKernel = new Option<bool>("--w4a16-table-kernel") { Description = "CPU: the AVX-512 W4A16 table kernel at G = 32/64 where the denormal form does not run (CpuBackendOptions.W4A16TableKernel; faster for batches of 4+ rows there, slower for one)." };
        var cmd = new Command("bench", "Measure forward costs and generation throughput per mode.");
        common.AddTo(cmd, withMode: false); // --mode is an alias of --modes here
        foreach (var o in new Option[] { synthetic, modes, batch, prompts, maxTokens, draftLength, draftBits, acceptance, repeats, runs, groupSize, forwardOnly, kernels, threads, tableKernel, plot }) cmd.Options.Add(o);
        cmd.SetAction(r =>
        {
            if (r.GetValue(threads) < 1) throw new ArgumentOutOfRangeException("--threads", r.GetValue(threads), "Must be positive.");
            var groupSizes = ParseGroupSizes(r.GetValue(groupSize));
            if (r.GetValue(kernels))
            {
                QSpec.Benchmarks.Roofline.Run(Console.Out, r.GetValue(threads), null, groupSizes ?? QSpec.Benchmarks.Roofline.DefaultGroupSizes);
                return 0;
            }
            var settings = new BenchSettings(
                Modes: r.GetValue(modes)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => m.ToLowerInvariant()).ToArray(),
                Batch: r.GetValue(batch), MaxTokens: r.GetValue(maxTokens), DraftLength: r.GetValue(draftLength)!, DraftBits: r.GetValue(draftBits)!,
                SyntheticAcceptance: r.GetValue(acceptance), Repeats: r.GetValue(repeats), ForwardOnly: r.GetValue(forwardOnly), Runs: r.GetValue(runs));
            settings.Validate(r.GetValue(synthetic) is not null);
            if (r.GetValue(plot) is { } plotPath && !Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(plotPath))))
                throw new ArgumentException($"--plot: the folder of '{plotPath}' does not exist.", "--plot");
            var name = r.GetValue(synthetic);
            if (groupSizes is not null && name is null) throw new ArgumentException("--group-size applies to --synthetic and --kernels only (a model file brings its own group size).", "--group-size");
            if (groupSizes is { Length: > 1 }) throw new ArgumentException($"--synthetic takes one --group-size, got '{r.GetValue(groupSize)}'.", "--group-size");
            int syntheticGroup = groupSizes?[0] ?? QSpec.Benchmarks.SyntheticModel.DefaultGroupSize;
            IReadOnlyList<IReadOnlyList<int>> promptIds;
            LlamaWeights weights;
            if (name is not null)
            {
                weights = QSpec.Benchmarks.SyntheticModel.Create(QSpec.Benchmarks.SyntheticModel.Shape(name), syntheticGroup);
                promptIds = Enumerable.Range(0, settings.Batch).Select(i => (IReadOnlyList<int>)new[] { 1, 100 + i, 200 + i, 300 + i }).ToArray();
            }
            else
            {
                (weights, var tokenizer) = ModelLoading.Load(r.GetValue(common.Model), r.GetValue(common.Tokenizer), needInt4: settings.Modes.Any(m => m != "fp32"), needDense: settings.Modes.Contains("fp32"), contextLength: r.GetValue(common.Context));
                promptIds = BenchRunner.LoadPrompts(r.GetValue(prompts), tokenizer, settings.Batch);
            }
            var kind = ModelLoading.ParseBackend(r.GetValue(common.Backend)!);
            // CPU runs honour --threads (a CPU backend the command owns); other backends come from the factory.
            using var cpu = kind == QSpec.Kernels.Backends.BackendKind.Cpu || (kind == QSpec.Kernels.Backends.BackendKind.Auto && QSpec.Kernels.Backends.BackendFactory.CudaDeviceCount() == 0)
                ? new QSpec.Kernels.Backends.Cpu.CpuBackend(new QSpec.Kernels.Backends.Cpu.CpuBackendOptions { MaxThreads = r.GetValue(threads), W4A16TableKernel = r.GetValue(tableKernel) }) : null;
            using var model = cpu is null ? LlamaModel.Create(weights, kind) : LlamaModel.Create(weights, cpu);
            string display = name is null ? ModelLoading.DisplayName(r.GetValue(common.Model)) : $"{name} (synthetic, G = {(syntheticGroup == 0 ? "per channel" : syntheticGroup)})";
            var report = new BenchRunner(model, settings, display).Run(promptIds);
            if (r.GetValue(common.Json)) Console.WriteLine(JsonSerializer.Serialize(report.ToJson(), new JsonSerializerOptions { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
            else report.Print(Console.Out);
            if (r.GetValue(plot) is { } png)
            {
                BenchPlot.Save(report, png, settings.DraftLength);
                Console.Error.WriteLine($"qspec: wrote {png}");
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>"32,128" as group sizes (null when the option is not given); each one Int4Matrix supports (0 = per channel, 32, 64, 128).</summary>
    private static int[]? ParseGroupSizes(string? value)
    {
        if (value is null) return null;
        var parts = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new ArgumentException("--group-size is empty.", "--group-size");
        return parts.Select(p =>
        {
            if (!int.TryParse(p, out int g) || g is not (0 or 32 or 64 or 128))
                throw new ArgumentException($"--group-size takes 0 (per output channel), 32, 64 or 128, got '{p}'.", "--group-size");
            return g;
        }).ToArray();
    }
}
