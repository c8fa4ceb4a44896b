using QSpec.Inference;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `denormab [pairs=100] [groupSize=32]`: W4A16 decode forwards (1 token) and verify or prefill forwards (2, 4 and 8 tokens) of the synthetic
/// TinyLlama-1.1B (G = groupSize, 0 per channel) with the W4A16 kernel's other form (A: fold or table on AVX-512, shift on AVX2) against its
/// denormal form (B), alternated forward by forward.
/// </summary>
public static class DenormalAb
{
    public static void Run(TextWriter o, int pairs, int groupSize = 32)
    {
        bool chosen = DenormalFloats.Enabled;
        using var f = new AlternatedForwards(2, groupSize);
        string a = CpuPaths.HasAvx512 ? (groupSize is 32 or 64 ? "fold" : "table") : "shift";
        o.WriteLine($"W4A16 {(CpuPaths.HasAvx512 ? "AVX-512 nibble" : "AVX2")} kernel, G = {groupSize}: A = {a} form, B = denormal form (this machine's default: {(chosen ? "denormal" : "A")}, FMA slowdown on denormal operands {DenormalFloats.MeasuredSlowdown():F2}); {pairs} alternated pairs, 2 threads");
        foreach (int tokens in new[] { 1, 2, 4, 8 })
            o.WriteLine($"  {tokens}-token forward: " + f.Compare(ExecutionMode.W4A16, b => DenormalFloats.Override = b, pairs, tokens));
        DenormalFloats.Override = null;
    }
}
