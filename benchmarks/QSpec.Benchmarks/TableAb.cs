using QSpec.Inference;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `tableab [pairs=60] [groupSize=32]`: W4A16 forwards (1, 2, 4 and 8 tokens) of the synthetic TinyLlama-1.1B on AVX-512
/// without the denormal form (forced off, as on a machine that pays for denormal operands), the nibble kernel's fold form
/// (A) against the table kernel (B, <see cref="LinearW4A16Avx512"/>), alternated forward by forward.
/// </summary>
public static class TableAb
{
    public static void Run(TextWriter o, int pairs, int groupSize = 32)
    {
        if (!CpuPaths.HasAvx512) { o.WriteLine("tableab: needs AVX-512 (the table kernel is AVX-512 only)"); return; }
        DenormalFloats.Override = false;
        try
        {
            using var f = new AlternatedForwards(2, groupSize);
            o.WriteLine($"W4A16 AVX-512, G = {groupSize}, denormal form off: A = nibble fold form, B = table kernel; {pairs} alternated pairs, 2 threads (this machine's default: {(DenormalFloats.Enabled ? "denormal" : "B")})");
            foreach (int tokens in new[] { 1, 2, 4, 8 })
                o.WriteLine($"  {tokens}-token forward: " + f.Compare(ExecutionMode.W4A16, b => LinearFloat.TableOverride = b, pairs, tokens));
        }
        finally { LinearFloat.TableOverride = null; DenormalFloats.Override = null; }
    }
}
