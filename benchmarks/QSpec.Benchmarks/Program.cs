using BenchmarkDotNet.Running;
using QSpec.Benchmarks;

// `quick [threads] [NxK]` prints a short table without BenchmarkDotNet; anything else goes to the BDN switcher
// (e.g. `--filter *LinearBenchmarks*`).
if (args.Length > 0 && args[0] == "quick")
{
    QuickBench.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 0, args.Length > 2 ? args[2] : null);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(LinearBenchmarks).Assembly).Run(args);
