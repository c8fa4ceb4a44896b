using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// The software prefetch of the AVX-512 streaming kernels (integer tiles, W4A16 nibble tiles): the weight and scale
/// lines a tile reads next go to L1 (prefetcht0) or to L2 only (prefetcht1), by machine. Same bits either way.
/// </summary>
/// <remarks>
/// Measured, weights from memory, 2 threads, interleaved A/B (`prefetchab`): on a Zen 5 VM (4 Dec 2026) T0 beat T1 by
/// 2-20 % in the integer tiles; on a Zen 4 VM (AMD family 19h, 32 KB L1D; 6 Dec 2026) T0 made the one-row W4A8 tile
/// 1.5-1.75x slower than T1 and the two-row tile up to 1.6x slower (4 and 8 rows: 1.0-1.07), the W4A16 nibble tiles
/// 0.96-1.05 except 1.23-1.26 at 2048 × 5632 M = 1; decode forwards of the TinyLlama-1.1B shape: W4A8 28.2 against
/// 17.9 ms (1.57x), W4A16 25.1 against 23.9 ms (1.06x). Why Zen 4 loses (L1 capacity, miss buffers) is not measured.
/// </remarks>
internal static unsafe class CpuPrefetch
{
    /// <summary>
    /// Whether the kernels prefetch into L1. Default: false on AMD family 19h (Zen 3 and Zen 4, where T1 measured faster),
    /// true elsewhere (Zen 5 measured T0 faster; other machines keep the T0 the kernels were tuned with). Written only by
    /// the A/B benchmark.
    /// </summary>
    internal static bool ToL1 = !IsAmdFamily19h();

    /// <summary>Prefetches the line of <paramref name="p"/> into L1 when <see cref="ToL1"/>, else into L2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Line(void* p)
    {
        if (ToL1) Sse.Prefetch0(p);
        else Sse.Prefetch1(p);
    }

    /// <summary>CPUID: vendor "AuthenticAMD" and family (base + extended) 0x19.</summary>
    internal static bool IsAmdFamily19h()
    {
        if (!X86Base.IsSupported) return false;
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        // "AuthenticAMD" as EBX, EDX, ECX little-endian words: "Auth", "enti", "cAMD".
        if (ebx != 0x68747541 || edx != 0x69746E65 || ecx != 0x444D4163) return false;
        int eax = X86Base.CpuId(1, 0).Eax;
        int family = (eax >> 8) & 0xF;
        if (family == 0xF) family += (eax >> 20) & 0xFF;
        return family == 0x19;
    }
}
