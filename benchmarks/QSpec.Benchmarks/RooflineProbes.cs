using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// Register-only probes of the instruction mixes the CPU linear kernels are built from, at the vector width of the
/// kernel path that runs (<see cref="CpuKernelPath.Avx512"/>: 512-bit; AVX2 and AVX-VNNI: 256-bit). Each probe runs
/// independent chains long enough to hide latency and returns a value so the JIT cannot drop the loop; the caller
/// times it and converts the count below into a rate.
/// </summary>
/// <remarks>
/// A probe for a path the machine lacks is never called: <see cref="For"/> gives null for the scalar path (no SIMD
/// peak to compare with), and the roofline prints "-" for it instead of a percentage of zero.
/// </remarks>
internal static class RooflineProbes
{
    /// <summary>One probe: the loop, and the work one call of it does per iteration (products, flops or weights).</summary>
    public sealed record Probe(string Label, Func<int, int> Body, double WorkPerIteration);

    /// <summary>The integer dot probe of <paramref name="path"/>: 2 ops per byte product.</summary>
    public static Probe? IntDot(CpuKernelPath path) => path switch
    {
        CpuKernelPath.Avx512 => new("int8 dot 512 (vpmaddubsw+vpmaddwd)", Dot512, 8.0 * 64 * 2),
        CpuKernelPath.AvxVnni => new("int8 dot 256 (vpdpbusd)", DotVnni, 8.0 * 32 * 2),
        CpuKernelPath.Avx2 => new("int8 dot 256 (vpmaddubsw+vpmaddwd)", Dot256, 8.0 * 32 * 2),
        _ => null,
    };

    /// <summary>The FMA probe of <paramref name="path"/>: 2 flops per lane.</summary>
    public static Probe? MultiplyAdd(CpuKernelPath path) => path switch
    {
        CpuKernelPath.Avx512 => new("fma512", Fma512, 8.0 * 16 * 2),
        CpuKernelPath.Avx2 => new("fma256", Fma256, 8.0 * 8 * 2),
        _ => null,
    };

    /// <summary>
    /// The W4A16 dequantization probe of <paramref name="path"/>, in weights: of the denormal form where the kernels use
    /// it (<see cref="DenormalFloats.Enabled"/>), else of the fold (AVX-512) or shift (AVX2) form.
    /// </summary>
    public static Probe? Dequant(CpuKernelPath path) => (path, DenormalFloats.Enabled) switch
    {
        (CpuKernelPath.Avx512, true) => new("W4A16 dequant 512 (and: denormal form)", Denormal512, 8.0 * 16),
        (CpuKernelPath.Avx512, false) => new("W4A16 dequant 512 (shift+vpternlogd)", Dequant512, 8.0 * 16),
        (CpuKernelPath.Avx2, true) => new("W4A16 dequant 256 (and: denormal form)", Denormal256, 8.0 * 8),
        (CpuKernelPath.Avx2, false) => new("W4A16 dequant 256 (shift+and+or)", Dequant256, 8.0 * 8),
        _ => null,
    };

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int Dot512(int iterations)
    {
        var u = Vector512.Create((byte)7); var a = Vector512.Create((sbyte)3); var one = Vector512.Create((short)1);
        Vector512<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int i = 0; i < iterations; i++)
        {
            c0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, a), one);
            c1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, a), one);
            c2 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, a), one);
            c3 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, a), one);
            c4 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, a), one);
            c5 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, a), one);
            c6 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, a), one);
            c7 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, a), one);
            u += Vector512<byte>.One; // keeps the multiplies in the loop
        }
        return ((c0 + c1) + (c2 + c3) + (c4 + c5) + (c6 + c7)).ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int Dot256(int iterations)
    {
        var u = Vector256.Create((byte)7); var a = Vector256.Create((sbyte)3); var one = Vector256.Create((short)1);
        Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int i = 0; i < iterations; i++)
        {
            c0 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, a), one);
            c1 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, a), one);
            c2 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, a), one);
            c3 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, a), one);
            c4 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, a), one);
            c5 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, a), one);
            c6 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, a), one);
            c7 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, a), one);
            u += Vector256<byte>.One;
        }
        return ((c0 + c1) + (c2 + c3) + (c4 + c5) + (c6 + c7)).ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int DotVnni(int iterations)
    {
        var u = Vector256.Create((byte)7); var a = Vector256.Create((sbyte)3);
        Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int i = 0; i < iterations; i++)
        {
            c0 = AvxVnni.MultiplyWideningAndAdd(c0, u, a); c1 = AvxVnni.MultiplyWideningAndAdd(c1, u, a);
            c2 = AvxVnni.MultiplyWideningAndAdd(c2, u, a); c3 = AvxVnni.MultiplyWideningAndAdd(c3, u, a);
            c4 = AvxVnni.MultiplyWideningAndAdd(c4, u, a); c5 = AvxVnni.MultiplyWideningAndAdd(c5, u, a);
            c6 = AvxVnni.MultiplyWideningAndAdd(c6, u, a); c7 = AvxVnni.MultiplyWideningAndAdd(c7, u, a);
            u += Vector256<byte>.One;
        }
        return ((c0 + c1) + (c2 + c3) + (c4 + c5) + (c6 + c7)).ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int Fma512(int iterations)
    {
        var x = Vector512.Create(1.0001f); var w = Vector512.Create(0.9999f);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int i = 0; i < iterations; i++)
        {
            c0 = Avx512F.FusedMultiplyAdd(x, w, c0); c1 = Avx512F.FusedMultiplyAdd(x, w, c1);
            c2 = Avx512F.FusedMultiplyAdd(x, w, c2); c3 = Avx512F.FusedMultiplyAdd(x, w, c3);
            c4 = Avx512F.FusedMultiplyAdd(x, w, c4); c5 = Avx512F.FusedMultiplyAdd(x, w, c5);
            c6 = Avx512F.FusedMultiplyAdd(x, w, c6); c7 = Avx512F.FusedMultiplyAdd(x, w, c7);
        }
        return (int)((c0 + c1) + (c2 + c3) + (c4 + c5) + (c6 + c7)).ToScalar();
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int Fma256(int iterations)
    {
        var x = Vector256.Create(1.0001f); var w = Vector256.Create(0.9999f);
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int i = 0; i < iterations; i++)
        {
            c0 = Fma.MultiplyAdd(x, w, c0); c1 = Fma.MultiplyAdd(x, w, c1);
            c2 = Fma.MultiplyAdd(x, w, c2); c3 = Fma.MultiplyAdd(x, w, c3);
            c4 = Fma.MultiplyAdd(x, w, c4); c5 = Fma.MultiplyAdd(x, w, c5);
            c6 = Fma.MultiplyAdd(x, w, c6); c7 = Fma.MultiplyAdd(x, w, c7);
        }
        return (int)((c0 + c1) + (c2 + c3) + (c4 + c5) + (c6 + c7)).ToScalar();
    }

    /// <summary>
    /// Per 128 weights: LinearW4A16Nibble's dequantization of four nibble positions of two vectors of 16 packed dwords
    /// into eight 16-float vectors, a shift and a vpternlogd each ((d &lt;&lt; s) &amp; 0x00780000 | 1.0f: the float 1 + q/16),
    /// no shuffle. Eight independent sums (four before 8 Dec 2026), so the adds' latency cannot bind where the machine
    /// has more than two vector ports.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int Dequant512(int iterations)
    {
        var mask = Vector512.Create(0x00780000u);
        var one = Vector512.Create(0x3F800000u);
        var d = Vector512.Create(0x5A5A5A5Au);
        var e = Vector512.Create(0x3C3C3C3Cu);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int i = 0; i < iterations; i++)
        {
            c0 += Avx512F.TernaryLogic(Avx512F.ShiftLeftLogical(d, 19), mask, one, 0xEA).AsSingle();
            c1 += Avx512F.TernaryLogic(Avx512F.ShiftLeftLogical(d, 15), mask, one, 0xEA).AsSingle();
            c2 += Avx512F.TernaryLogic(Avx512F.ShiftLeftLogical(d, 11), mask, one, 0xEA).AsSingle();
            c3 += Avx512F.TernaryLogic(Avx512F.ShiftLeftLogical(d, 7), mask, one, 0xEA).AsSingle();
            c4 += Avx512F.TernaryLogic(Avx512F.ShiftLeftLogical(e, 19), mask, one, 0xEA).AsSingle();
            c5 += Avx512F.TernaryLogic(Avx512F.ShiftLeftLogical(e, 15), mask, one, 0xEA).AsSingle();
            c6 += Avx512F.TernaryLogic(Avx512F.ShiftLeftLogical(e, 11), mask, one, 0xEA).AsSingle();
            c7 += Avx512F.TernaryLogic(Avx512F.ShiftLeftLogical(e, 7), mask, one, 0xEA).AsSingle();
            d += Vector512<uint>.One; e += Vector512<uint>.One;
        }
        return (int)(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7))).ToScalar();
    }

    /// <summary>Per 64 weights: the same nibble-in-place dequantization at 256 bits, where AVX2 has no ternary logic (shift, and, or).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int Dequant256(int iterations)
    {
        var mask = Vector256.Create(0x00780000u);
        var one = Vector256.Create(0x3F800000u);
        var d = Vector256.Create(0x5A5A5A5Au);
        var e = Vector256.Create(0x3C3C3C3Cu);
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int i = 0; i < iterations; i++)
        {
            c0 += ((Avx2.ShiftLeftLogical(d, 19) & mask) | one).AsSingle();
            c1 += ((Avx2.ShiftLeftLogical(d, 15) & mask) | one).AsSingle();
            c2 += ((Avx2.ShiftLeftLogical(d, 11) & mask) | one).AsSingle();
            c3 += ((Avx2.ShiftLeftLogical(d, 7) & mask) | one).AsSingle();
            c4 += ((Avx2.ShiftLeftLogical(e, 19) & mask) | one).AsSingle();
            c5 += ((Avx2.ShiftLeftLogical(e, 15) & mask) | one).AsSingle();
            c6 += ((Avx2.ShiftLeftLogical(e, 11) & mask) | one).AsSingle();
            c7 += ((Avx2.ShiftLeftLogical(e, 7) & mask) | one).AsSingle();
            d += Vector256<uint>.One; e += Vector256<uint>.One;
        }
        return (int)(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7))).ToScalar();
    }

    /// <summary>
    /// Per 128 weights: the denormal form's dequantization of 16 packed dwords (LinearW4A16Nibble, DenormalNibbles): one
    /// shift right by 16, then eight ANDs that leave each nibble in place as a denormal float.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int Denormal512(int iterations)
    {
        var d = Vector512.Create(0x5A5A5A5Au);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int i = 0; i < iterations; i++)
        {
            var h = Avx512F.ShiftRightLogical(d, 16);
            c0 += (d & Vector512.Create(0x000Fu)).AsSingle(); c1 += (d & Vector512.Create(0x00F0u)).AsSingle();
            c2 += (d & Vector512.Create(0x0F00u)).AsSingle(); c3 += (d & Vector512.Create(0xF000u)).AsSingle();
            c4 += (h & Vector512.Create(0x000Fu)).AsSingle(); c5 += (h & Vector512.Create(0x00F0u)).AsSingle();
            c6 += (h & Vector512.Create(0x0F00u)).AsSingle(); c7 += (h & Vector512.Create(0xF000u)).AsSingle();
            d += Vector512<uint>.One;
        }
        return (int)(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7))).ToScalar();
    }

    /// <summary>Per 64 weights: the same at 256 bits (DenormalNibbles).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int Denormal256(int iterations)
    {
        var d = Vector256.Create(0x5A5A5A5Au);
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int i = 0; i < iterations; i++)
        {
            var h = Avx2.ShiftRightLogical(d, 16);
            c0 += (d & Vector256.Create(0x000Fu)).AsSingle(); c1 += (d & Vector256.Create(0x00F0u)).AsSingle();
            c2 += (d & Vector256.Create(0x0F00u)).AsSingle(); c3 += (d & Vector256.Create(0xF000u)).AsSingle();
            c4 += (h & Vector256.Create(0x000Fu)).AsSingle(); c5 += (h & Vector256.Create(0x00F0u)).AsSingle();
            c6 += (h & Vector256.Create(0x0F00u)).AsSingle(); c7 += (h & Vector256.Create(0xF000u)).AsSingle();
            d += Vector256<uint>.One;
        }
        return (int)(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7))).ToScalar();
    }
}
