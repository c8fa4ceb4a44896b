using BenchmarkDotNet.Running;
using QSpec.Benchmarks;

// `quick [threads] [groupSize] [Auto|Avx512|AvxVnni|Avx2|Scalar]` prints the roofline and the TinyLlama-1.1B kernel
// table without BenchmarkDotNet (about a minute); anything else goes to the BDN switcher (e.g. `--filter *LinearBenchmarks*`).
if (args.Length > 0 && args[0] == "quick")
{
    Roofline.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount, null,
        args.Length > 2 ? int.Parse(args[2]) : LinearCase.GroupSize,
        args.Length > 3 ? Enum.Parse<QSpec.Kernels.Backends.Cpu.CpuKernelPath>(args[3], ignoreCase: true) : default);
    return;
}
// `stream [threads=2]`: the streaming read of Roofline (ColdMemory.Bytes: at least 256 MiB and twice the last-level cache; best of 31 batches) in GB/s, one number. The shared
// VM's memory bandwidth moves over minutes (31-54 GB/s on 6 Dec 2026) and the memory-bound W4A8 forward with it, so
// compare-llama-cpp.sh prints it beside every round.
if (args.Length > 0 && args[0] == "stream")
{
    Console.WriteLine($"{Roofline.StreamGBs(args.Length > 1 ? int.Parse(args[1]) : 2):F1}");
    return;
}
if (args.Length > 0 && args[0] == "ab")
{
    KernelAb.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 5632, args.Length > 2 ? int.Parse(args[2]) : 2048, args.Length > 3 ? int.Parse(args[3]) : 0);
    return;
}
if (args.Length > 0 && args[0] == "w4a16ab")
{
    W4A16Ab.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 2, (args.Length > 2 ? args[2] : "32,128,0").Split(',').Select(int.Parse).ToArray(),
        args.Length > 3 && args[3] == "hot");
    return;
}
// `w4a16avx2ab [threads=2] [groupSizes=32] [hot]`: the AVX2 W4A16 kernel before (LinearFloatAvx2-style) and after (LinearW4A16Avx2), interleaved.
if (args.Length > 0 && args[0] == "w4a16avx2ab")
{
    W4A16Avx2Ab.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 2, (args.Length > 2 ? args[2] : "32").Split(',').Select(int.Parse).ToArray(),
        args.Length > 3 && args[3] == "hot");
    return;
}
if (args.Length > 0 && args[0] == "halfab")
{
    HalfScaleAb.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 2, (args.Length > 2 ? args[2] : "32").Split(',').Select(int.Parse).ToArray(),
        args.Length > 3 && args[3] == "hot");
    return;
}
if (args.Length > 0 && args[0] == "halfforward")
{
    HalfForwardAb.Run(Console.Out, args.Length > 1 ? args[1] : "tinyllama-1.1b", args.Length > 2 ? int.Parse(args[2]) : 2, args.Length > 3 ? int.Parse(args[3]) : 6);
    return;
}
// `attnab [shape=tinyllama-1.1b] [threads=2] [rounds=6] [positions=64,300,1000,2000]`: decode forwards with attention on
// the calling thread against split by (row, KV head) (AttnAb).
if (args.Length > 0 && args[0] == "attnab")
{
    AttnAb.Run(Console.Out, args.Length > 1 ? args[1] : "tinyllama-1.1b", args.Length > 2 ? int.Parse(args[2]) : 2, args.Length > 3 ? int.Parse(args[3]) : 6,
        (args.Length > 4 ? args[4] : "64,300,1000,2000").Split(',').Select(int.Parse).ToArray());
    return;
}
// `intpathab [threads=2] [groupSize=32] [batches=20] [pathA=Avx512] [pathB=AvxVnni]`: the integer linear through two kernel
// paths, interleaved (IntPathAb).
if (args.Length > 0 && args[0] == "intpathab")
{
    IntPathAb.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 2, args.Length > 2 ? int.Parse(args[2]) : 32, args.Length > 3 ? int.Parse(args[3]) : 20,
        Enum.Parse<QSpec.Kernels.Backends.Cpu.CpuKernelPath>(args.Length > 4 ? args[4] : "Avx512", ignoreCase: true),
        Enum.Parse<QSpec.Kernels.Backends.Cpu.CpuKernelPath>(args.Length > 5 ? args[5] : "AvxVnni", ignoreCase: true));
    return;
}
// `inthotab [threads=2] [groupSize=32] [batches=15] [pathA=Avx512] [pathB=Avx2]`: two integer paths with the weights in cache (IntHotAb).
if (args.Length > 0 && args[0] == "inthotab")
{
    IntHotAb.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 2, args.Length > 2 ? int.Parse(args[2]) : 32, args.Length > 3 ? int.Parse(args[3]) : 15,
        Enum.Parse<QSpec.Kernels.Backends.Cpu.CpuKernelPath>(args.Length > 4 ? args[4] : "Avx512", ignoreCase: true),
        Enum.Parse<QSpec.Kernels.Backends.Cpu.CpuKernelPath>(args.Length > 5 ? args[5] : "Avx2", ignoreCase: true));
    return;
}
// `stepcost [k=1] [tokens=256] [rounds=20]`: a QSpec step's parts on stories260K at fixed k against k = 0 and plain decoding (StepCost).
if (args.Length > 4 && args[0] == "stepcost" && args[1] == "loop")
{
    StepCost.Loop(Console.Out, Enum.Parse<QSpec.Inference.ExecutionMode>(args[2], ignoreCase: true), int.Parse(args[3]), int.Parse(args[4]), args.Length > 5 ? double.Parse(args[5]) : 10);
    return;
}
if (args.Length > 0 && args[0] == "stepcost")
{
    StepCost.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 1, args.Length > 2 ? int.Parse(args[2]) : 256, args.Length > 3 ? int.Parse(args[3]) : 20);
    return;
}
// `controllertrace [generations=60] [tokens=32] [shape=tinyllama-1.1b] [acceptance=0.99] [k|auto] [batch=1]`: QSpec generations beside plain
// ones with the draft controller's estimates after each (ControllerTrace).
if (args.Length > 0 && args[0] == "controllertrace")
{
    ControllerTrace.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 60, args.Length > 2 ? int.Parse(args[2]) : 32,
        args.Length > 3 ? args[3] : "tinyllama-1.1b", args.Length > 4 ? double.Parse(args[4]) : 0.99,
        args.Length > 5 && args[5] != "auto" ? int.Parse(args[5]) : null, args.Length > 6 ? int.Parse(args[6]) : 1);
    return;
}
// `tableab [pairs=60] [groupSize=32]`: W4A16 forwards on AVX-512 with the denormal form off, the fold form against the table kernel, alternated (TableAb).
if (args.Length > 0 && args[0] == "tableab")
{
    TableAb.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 60, args.Length > 2 ? int.Parse(args[2]) : 32);
    return;
}
// `denormab [pairs=100] [groupSize=32]`: the W4A16 kernel's other form (AVX-512 fold/table, AVX2 shift) against its denormal form, alternated forwards (DenormalAb).
if (args.Length > 0 && args[0] == "denormab")
{
    DenormalAb.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 100, args.Length > 2 ? int.Parse(args[2]) : 32);
    return;
}
// `prefetchab [threads=2] [groupSize=32] [batches=15]` / `prefetchab forward [pairs=100]`: the AVX-512 kernels' prefetch into L2
// against L1, interleaved (PrefetchAb).
if (args.Length > 1 && args[0] == "prefetchab" && args[1] == "forward")
{
    PrefetchAb.Forward(Console.Out, 2, args.Length > 2 ? int.Parse(args[2]) : 100);
    return;
}
if (args.Length > 0 && args[0] == "prefetchab")
{
    PrefetchAb.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 2, args.Length > 2 ? int.Parse(args[2]) : 32, args.Length > 3 ? int.Parse(args[3]) : 15);
    return;
}
// `w4a16rows [threads=2] [groupSize=32] [batches=15]`: EXPERIMENT, W4A16 M = 1 against 2, plain and fused (W4A16RowsProbe);
// `w4a16rows linears [pairs=40] [norms=0] [attention=0]`: the model's linear calls in forward order (W4A16LinearsProbe).
if (args.Length > 1 && args[0] == "w4a16rows" && args[1] == "linears")
{
    W4A16LinearsProbe.Run(Console.Out, 2, args.Length > 2 ? int.Parse(args[2]) : 40, args.Length > 3 && args[3] == "1", args.Length > 4 && args[4] == "1");
    return;
}
if (args.Length > 0 && args[0] == "w4a16rows")
{
    W4A16RowsProbe.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 2, args.Length > 2 ? int.Parse(args[2]) : 32, args.Length > 3 ? int.Parse(args[3]) : 15);
    return;
}
// `attnprobe [positions=2000] [headSize=64] [heads=32] [kvHeads=4] [layers=22] [queryScale=1]`: the CPU attention kernel alone (AttnProbe).
if (args.Length > 0 && args[0] == "attnprobe")
{
    int Arg(int i, int d) => args.Length > i ? int.Parse(args[i]) : d;
    AttnProbe.Run(Console.Out, Arg(1, 2000), Arg(2, 64), Arg(3, 32), Arg(4, 4), Arg(5, 22), args.Length > 6 ? float.Parse(args[6], System.Globalization.CultureInfo.InvariantCulture) : 1f);
    return;
}
// `int [threads=2] [groupSize=32] [batches=40]`: the integer linear with fp32 against fp16 scales, interleaved (IntAb).
if (args.Length > 0 && args[0] == "int")
{
    IntAb.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 2, args.Length > 2 ? int.Parse(args[2]) : 32, args.Length > 3 ? int.Parse(args[3]) : 40);
    return;
}
// `w4a16denormab [threads=2] [groupSizes=32]`: the AVX2 W4A16 kernel's shift form against its denormal form, per shape and M (W4A16DenormalAb).
if (args.Length > 0 && args[0] == "w4a16denormab")
{
    W4A16DenormalAb.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 2, (args.Length > 2 ? args[2] : "32").Split(',').Select(int.Parse).ToArray());
    return;
}
// `intavx2ab [threads=2] [groupSize=32] [pairs=15]`: the AVX2 integer linear with one-row against multi-row tiles, interleaved.
if (args.Length > 0 && args[0] == "intavx2ab")
{
    IntAvx2Ab.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 2, args.Length > 2 ? int.Parse(args[2]) : 32, args.Length > 3 ? int.Parse(args[3]) : 15);
    return;
}
// `decodeloop [shape=tinyllama-1.1b] [threads=2] [mode=W4A8] [seconds=20] [position=64] [tokens=1]`: one mode's decode forward in a loop, for a profiler (DecodeLoop).
if (args.Length > 0 && args[0] == "decodeloop")
{
    DecodeLoop.Run(Console.Out, args.Length > 1 ? args[1] : "tinyllama-1.1b", args.Length > 2 ? int.Parse(args[2]) : 2,
        Enum.Parse<QSpec.Inference.ExecutionMode>(args.Length > 3 ? args[3] : "W4A8", ignoreCase: true),
        args.Length > 4 ? double.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture) : 20, args.Length > 5 ? int.Parse(args[5]) : 64,
        args.Length > 6 ? int.Parse(args[6]) : 1);
    return;
}
// `intprefab [threads=2] [groupSize=32] [batches=20]`: the AVX-512 integer tiles without and with the scale prefetch, interleaved;
// `intprefab forward [pairs=200]`: the same in W4A8 decode forwards.
if (args.Length > 1 && args[0] == "intprefab" && args[1] == "forward")
{
    IntPrefetchAb.Forward(Console.Out, 2, args.Length > 2 ? int.Parse(args[2]) : 200);
    return;
}
if (args.Length > 0 && args[0] == "intprefab")
{
    IntPrefetchAb.Run(Console.Out, args.Length > 1 ? int.Parse(args[1]) : 2, args.Length > 2 ? int.Parse(args[2]) : 32, args.Length > 3 ? int.Parse(args[3]) : 20);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(LinearBenchmarks).Assembly).Run(args);
