using System.Text.Json.Nodes;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;

namespace QSpec.DeviceCheck;

/// <summary>
/// The one-shot device check: correctness of every op and of whole-model decoding on the device, then speed. See
/// README.md. Exit codes: 0 every correctness check passed, 1 some failed, 2 bad arguments or no CUDA device.
/// </summary>
public static class Program
{
    private const string Usage = "usage: QSpec.DeviceCheck [--sim] [--out FILE.jsonl] [--budget SECONDS] [--only ops,fused,model,speed,kernels,e2e]";

    public static int Main(string[] args) => Run(args, Console.Out);

    /// <summary>Runs the check with <paramref name="args"/>, echoing each result line to <paramref name="output"/>.</summary>
    public static int Run(string[] args, TextWriter output)
    {
        bool sim = false;
        string? outPath = null;
        double? budget = null;
        HashSet<string>? only = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--sim": sim = true; break;
                case "--out" when i + 1 < args.Length: outPath = args[++i]; break;
                case "--budget" when i + 1 < args.Length && double.TryParse(args[i + 1], out double b) && b > 0: budget = b; i++; break;
                case "--only" when i + 1 < args.Length: only = [.. args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries)]; break;
                default:
                    output.WriteLine($"unknown or incomplete argument '{args[i]}'");
                    output.WriteLine(Usage);
                    return 2;
            }
        }
        var plan = sim ? CheckPlan.Sim : CheckPlan.Gpu;
        string? outDir = Environment.GetEnvironmentVariable("OUT");
        outPath ??= Path.Combine(string.IsNullOrEmpty(outDir) ? "." : outDir, sim ? "device-check-sim.jsonl" : "device-check.jsonl");

        IlgpuBackend device;
        try
        {
            // QSPEC_DEVICECHECK_SIM_WARP=32 simulates NVIDIA's warp, which the tensor-core checks need (slow: minutes).
            int warp = int.TryParse(Environment.GetEnvironmentVariable("QSPEC_DEVICECHECK_SIM_WARP"), out int w) ? w : new IlgpuSimulatorOptions().WarpSize;
            device = sim ? IlgpuBackend.CreateCpuSimulator(new IlgpuSimulatorOptions { WarpSize = warp })
                         : (IlgpuBackend)BackendFactory.Create(BackendKind.Cuda);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentOutOfRangeException) // no CUDA, or a bad simulated warp
        {
            output.WriteLine($"device-check: {e.Message}");
            return 2;
        }
        using (device)
        using (var log = new CheckLog(outPath, output, TimeSpan.FromSeconds(budget ?? (sim ? 900 : 450))))
        {
            log.Note(new JsonObject
            {
                ["check"] = "header", ["backend"] = device.Name, ["simulated"] = sim, ["utc"] = DateTime.UtcNow.ToString("O"),
                ["runtime"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
                ["budget_s"] = budget ?? (sim ? 900 : 450), ["results"] = log.Path,
            });
            bool Wants(string group) => only is null || only.Contains(group);
            if (Wants("ops")) new OpChecks(device, plan, log).RunAll();
            if (Wants("fused")) new FusedChecks(device, plan, log).RunAll();
            var model = new ModelChecks(device, plan, log);
            if (Wants("model")) model.RunAll();
            var speed = new SpeedChecks(device, plan, log);
            if (Wants("speed")) speed.RunBasics();
            if (Wants("kernels")) speed.RunKernels();
            if (Wants("e2e")) speed.RunEndToEnd(model.Acceptance);
            log.Note(new JsonObject
            {
                ["check"] = "summary", ["passed"] = log.Passes, ["failed"] = log.Failures, ["seconds"] = Math.Round(log.Elapsed, 1),
            });
            return log.Failures == 0 ? 0 : 1;
        }
    }
}
