using QSpec.Inference;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `denormab [pairs=100]`: W4A16 decode forwards (1 token) and verify forwards (2 and 4 tokens) of the synthetic
/// TinyLlama-1.1B with the nibble kernel's fold form (A) against its denormal form (B), alternated forward by forward.
/// </summary>
public static class DenormalAb
{
    public static void Run(TextWriter o, int pairs)
    {
        bool chosen = DenormalFloats.Enabled;
        using var f = new AlternatedForwards(2);
        o.WriteLine($"W4A16 nibble kernel: A = fold form, B = denormal form (this machine's default: {(chosen ? "denormal" : "fold")}, FMA slowdown on denormal operands {DenormalFloats.MeasuredSlowdown():F2}); {pairs} alternated pairs, 2 threads");
        foreach (int tokens in new[] { 1, 2, 4 })
            o.WriteLine($"  {tokens}-token forward: " + f.Compare(ExecutionMode.W4A16, b => DenormalFloats.Override = b, pairs, tokens));
        DenormalFloats.Override = null;
    }
}
