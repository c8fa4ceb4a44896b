using BenchmarkDotNet.Running;
using QSpec.Benchmarks;

// `quick [threads] [NxK|all] [Auto|Avx512|AvxVnni|Avx2|Scalar]` prints a short table without BenchmarkDotNet; anything else goes to the BDN switcher
// (e.g. `--filter *LinearBenchmarks*`).
if (args.Length > 0 && args[0] == "quick")
{
    QuickBench.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 0, args.Length > 2 ? args[2] : null,
        args.Length > 3 ? Enum.Parse<QSpec.Kernels.Backends.Cpu.CpuKernelPath>(args[3], ignoreCase: true) : default);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(LinearBenchmarks).Assembly).Run(args);
