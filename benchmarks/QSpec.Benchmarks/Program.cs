using BenchmarkDotNet.Running;
using QSpec.Benchmarks;

// `quick` prints a short table without BenchmarkDotNet; anything else goes to the BDN switcher
// (e.g. `--filter *LinearBenchmarks*`).
if (args.Length > 0 && args[0] == "quick")
{
    QuickBench.Run(Console.Out);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(LinearBenchmarks).Assembly).Run(args);
