using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>Instruction-set path of the CPU kernels. A path the processor lacks falls back to the best one it has below it.</summary>
public enum CpuKernelPath
{
    /// <summary>The best path the processor supports (the default).</summary>
    Auto,
    /// <summary>AVX-512F float kernels and AVX-512BW integer kernels (512-bit vpmaddubsw + vpmaddwd, multi-row tiles).</summary>
    Avx512,
    /// <summary>AVX2 + FMA float kernels and AVX-VNNI (vpdpbusd, 256-bit) integer kernels.</summary>
    AvxVnni,
    /// <summary>AVX2 + FMA float kernels and AVX2 vpmaddubsw integer kernels.</summary>
    Avx2,
    /// <summary>Portable scalar kernels (always available).</summary>
    Scalar,
}

/// <summary>Options of <see cref="CpuBackend"/>.</summary>
public sealed class CpuBackendOptions
{
    /// <summary>The kernel path to use; default <see cref="CpuKernelPath.Auto"/>. Unsupported paths fall back, never throw.</summary>
    public CpuKernelPath Path { get; init; } = CpuKernelPath.Auto;

    /// <summary>Most threads a linear op may use; default <see cref="Environment.ProcessorCount"/>. 1 keeps every op on the caller's thread.</summary>
    public int MaxThreads { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Multiply-adds per call (M·N·K) from which a linear op is split over output channels; default 262144 (one row
    /// through a 512×512 matrix). Smaller calls run on one thread, where the fork/join cost would exceed the work.
    /// </summary>
    public long ParallelThreshold { get; init; } = 1L << 18;

    /// <summary>
    /// Whether the integer kernels (AVX-512 and AVX2) read a matrix's scales as fp16 when every one of them is an fp16 value
    /// (GGUF Q4_0 files are); default true. Results are bitwise the same either way (fp16 → fp32 is exact); at G = 32 a
    /// weight then costs 0.5625 bytes instead of 0.625, and decode streams weights. False keeps fp32 scales (A/B runs).
    /// </summary>
    public bool HalfPrecisionScales { get; init; } = true;

    /// <summary>
    /// Whether the AVX-512 and AVX2 W4A16 kernels also read fp16 scales (under the same condition); default false. Same
    /// bits either way. On the Zen 3 VM (AVX2, denormal form) a forward took 1.027x the fp32-scale time (7 Dec 2026). Measured on the 2-core VMs (`halfforward`): a W4A16 forward took 1.02-1.06x the fp32-scale time on 2 Dec 2026
    /// and 1.04-1.09x on 6 Dec 2026 with the denormal form. The one-token tile runs where its FMA/AND mix and the memory
    /// stream overlap (a C kernel with the same mix: 13.2 ns per 4-channel pair from L1, 16-19.5 from memory), so the
    /// exact fp16 conversion (4 ops per 16 scales) costs about what the 10 % fewer bytes save; the C kernel with fp16
    /// scales was 2-3 % slower on 32000 × 2048 as well. Turn it on where W4A16 decode is purely memory-bound (measure with `halfforward`).
    /// </summary>
    public bool HalfPrecisionScalesW4A16 { get; init; }

    /// <summary>
    /// The W4A16 kernels' form: true the denormal form, false the fold (G = 32, 64) or table form on AVX-512 and the shift
    /// form on AVX2, null (the default) the denormal form where <see cref="DenormalFloats.Enabled"/>. Internal: for tests
    /// of both forms.
    /// </summary>
    internal bool? DenormalW4A16 { get; init; }

    /// <summary>
    /// Whether the AVX-512 W4A16 kernel at G = 32 and 64, on a machine or thread where the denormal form does not run
    /// (a processor that takes microcode assists on denormal operands, which the backend measures once per process, or
    /// a thread with DAZ set), is the table kernel (vpermps from (u − 8)·s, the reference's products)
    /// instead of the fold form (1.5 + q/16); default false. Both keep every row's bits independent of the batch, so
    /// QSpec still equals plain W4A16; they give different bits from each other. Measured on an Intel Xeon guest (8 Dec
    /// 2026, `tableab`, alternated TinyLlama-1.1B forwards, G = 32): the table kernel took 1.10x the fold form's time for
    /// one token, 1.05x for 2, 0.91x for 4 and 0.76x for 8. Turn it on there for batched decoding (4 or more sequences)
    /// and prompt-heavy work; leave it off for single-sequence decoding. No effect where the denormal form runs.
    /// </summary>
    public bool W4A16TableKernel { get; init; }

    /// <summary>
    /// Keeps attention on the calling thread at every size (the behaviour before it was split over the threads); default false.
    /// Internal: for the A/B benchmark (`attnab`) only; the results are the same bits either way.
    /// </summary>
    internal bool SerialAttention { get; init; }
}

/// <summary>The float and integer kernel paths chosen for one backend instance.</summary>
internal readonly record struct CpuPaths(CpuKernelPath Float, CpuKernelPath Int)
{
    /// <summary>Whether AVX-512F float kernels can run here.</summary>
    public static bool HasAvx512 => Avx512F.IsSupported && Avx512BW.IsSupported && Fma.IsSupported;
    /// <summary>Whether AVX2 + FMA kernels can run here.</summary>
    public static bool HasAvx2 => Avx2.IsSupported && Fma.IsSupported;
    /// <summary>Whether 256-bit VNNI kernels can run here.</summary>
    public static bool HasAvxVnni => AvxVnni.IsSupported && HasAvx2;

    /// <summary>Resolves a requested path to the best supported one at or below it.</summary>
    public static CpuPaths Resolve(CpuKernelPath requested)
    {
        if (requested == CpuKernelPath.Auto)
            requested = HasAvx512 ? CpuKernelPath.Avx512 : HasAvxVnni ? CpuKernelPath.AvxVnni : CpuKernelPath.Avx2;
        if (requested == CpuKernelPath.Avx512 && !HasAvx512) requested = HasAvxVnni ? CpuKernelPath.AvxVnni : CpuKernelPath.Avx2;
        if (requested == CpuKernelPath.AvxVnni && !HasAvxVnni) requested = CpuKernelPath.Avx2;
        if (requested == CpuKernelPath.Avx2 && !HasAvx2) requested = CpuKernelPath.Scalar;
        return requested switch
        {
            CpuKernelPath.Avx512 => new(CpuKernelPath.Avx512, CpuKernelPath.Avx512),
            CpuKernelPath.AvxVnni => new(CpuKernelPath.Avx2, CpuKernelPath.AvxVnni),
            CpuKernelPath.Avx2 => new(CpuKernelPath.Avx2, CpuKernelPath.Avx2),
            _ => new(CpuKernelPath.Scalar, CpuKernelPath.Scalar),
        };
    }

    /// <summary>Whether the 256-bit vector helpers (elementwise ops, attention) may use SIMD.</summary>
    public bool VectorElementwise => Float != CpuKernelPath.Scalar;

    /// <summary>E.g. "float avx512f, int avx2".</summary>
    public override string ToString()
    {
        string f = Float switch { CpuKernelPath.Avx512 => "avx512f", CpuKernelPath.Avx2 => "avx2+fma", _ => "scalar" };
        string i = Int switch { CpuKernelPath.Avx512 => "avx512bw", CpuKernelPath.AvxVnni => "avxvnni", CpuKernelPath.Avx2 => "avx2", _ => "scalar" };
        return $"float {f}, int {i}";
    }
}
