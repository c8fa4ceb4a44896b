using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Benchmarks;

/// <summary>
/// EXPERIMENT (not in the library): `w4a16denormab [threads=2] [groups=32]` times <see cref="LinearW4A16Avx2"/> with its
/// shift + and + or dequantization against <see cref="DenormalNibbles"/> (an and alone: the weight as a denormal float),
/// interleaved, cold weights, and checks the denormal form against <see cref="LinearReference.W4A16"/> (it cannot equal
/// the shift form's bits: its chains sum other, exactly scaled, products).
/// </summary>
/// <remarks>
/// The denormal form needs its own activations: vector i of each block scaled by 2^(100 − 4·(i mod 4)) (exact while
/// |x| &lt; 2^28), and start values −8·Σx·2^−49 in place of −1.5·Σx, so that every chain sums x·(u − 8)·2^−49 and
/// y = 2^49 · Reduce(acc). Here they are derived from the library's permutation by scaling its vectors and recomputing the
/// sums in its order. A library version would also need a probe that denormal operands are neither flushed (DAZ) nor
/// slow (microcode assists) on the machine it runs on.
/// </remarks>
public static unsafe class W4A16DenormalAb
{
    public static void Run(TextWriter o, int threads, int[] groupSizes)
    {
        using var pool = new CpuWorkerPool(threads);
        o.WriteLine($"W4A16 AVX2 dequantization A/B, {threads} threads, cold weights (96 MiB of copies): best us of 21 alternating batches");
        o.WriteLine("shift = LinearW4A16Avx2 (shift+and+or, 24 ops per block), denorm = and only (1 + 8 ops per block); err = max |y - ref| / max |ref|");
        o.WriteLine($"{"shape",-11} {"G",3} {"M",2} {"shift us",9} {"denorm us",9} {"denorm/shift",12} {"err shift",10} {"err denorm",10}");
        foreach (int g in groupSizes)
            foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
            {
                var rng = new Random(7);
                var ws = LinearCase.RandomCopies(n, k, g, false, rng);
                var w0 = ws[0];
                int copies = ws.Length;
                foreach (int m in Roofline.Rows)
                {
                    var x = new float[m * k];
                    for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
                    float[] yShift = new float[m * n], yDenorm = new float[m * n], expected = new float[m * n];
                    LinearReference.W4A16(x, m, w0, expected);
                    int next = 0;
                    var t = W4A16Avx2Ab.Alternate([() => Call<ShiftNibbles>(pool, threads, x, m, ws[next], yShift), () => Call<DenormalNibbles>(pool, threads, x, m, ws[next], yDenorm)],
                                      () => next = (next + 1) % copies);
                    o.WriteLine($"{n + "x" + k,-11} {g,3} {m,2} {t[0],9:F1} {t[1],9:F1} {t[1] / t[0],12:F2} {Error(yShift, expected),10:E1} {Error(yDenorm, expected),10:E1}");
                }
            }
    }

    private static double Error(float[] y, float[] expected)
    {
        double worst = 0, scale = 1e-30;
        for (int i = 0; i < y.Length; i++) { worst = Math.Max(worst, Math.Abs(y[i] - expected[i])); scale = Math.Max(scale, Math.Abs(expected[i])); }
        return worst / scale;
    }

    private static void Call<TD>(CpuWorkerPool pool, int threads, float[] x, int rows, Int4Matrix w, float[] y) where TD : struct, INibbles256
    {
        bool split = new GroupIndex(w).BlockShift < 0;
        var (xn, off, xs) = LinearW4A16Avx2Activations.Permute(x, rows, w.Columns, split);
        if (typeof(TD) == typeof(DenormalNibbles)) (xn, off) = Rescale(x, rows, w.Columns, split, xn, off, xs);
        W4A16Avx2Ab.Kernel<TD>(pool, threads, xn, off, xs, rows, w, y);
    }

    [ThreadStatic] private static float[]? t_scaled;

    /// <summary>The denormal form's activations from the library's permutation (a per-call copy: part of its timed cost).</summary>
    private static (float[] Buffer, int Offset) Rescale(float[] x, int rows, int k, bool split, float[] src, int off, int xs)
    {
        var dst = t_scaled;
        if (dst is null || dst.Length < rows * xs + 16) t_scaled = dst = GC.AllocateArray<float>(rows * xs + 16, pinned: true);
        int o;
        fixed (float* p = dst) o = (int)((64 - ((nint)p & 63)) & 63) / sizeof(float);
        int blocks = xs / LinearW4A16Avx2.BlockFloats;
        for (int m = 0; m < rows; m++)
            for (int b = 0; b < blocks; b++)
            {
                int s = off + m * xs + b * LinearW4A16Avx2.BlockFloats, d = o + m * xs + b * LinearW4A16Avx2.BlockFloats;
                for (int i = 0; i < 8; i++)
                {
                    float f = MathF.ScaleB(1f, 100 - 4 * (i & 3));
                    for (int l = 0; l < 8; l++) dst[d + 8 * i + l] = src[s + 8 * i + l] * f;
                }
                // The library's −1.5·Σx slots, recomputed as −8·Σx·2^−49 in the same order (exact scalings of the same sums).
                for (int l = 0; l < 8; l++)
                {
                    float even = (src[s + l] + src[s + 16 + l]) + (src[s + 32 + l] + src[s + 48 + l]);
                    float odd = (src[s + 8 + l] + src[s + 24 + l]) + (src[s + 40 + l] + src[s + 56 + l]);
                    float c = -8f * MathF.ScaleB(1f, -49);
                    dst[d + 64 + l] = split ? c * even : c * (even + odd);
                    dst[d + 72 + l] = split ? c * odd : 0f;
                }
            }
        return (dst, o);
    }
}

/// <summary>
/// EXPERIMENT: nibble i of each dword isolated by an and alone, leaving the denormal float u·2^(4j − 149), j = i mod 4
/// (nibbles 4..7 from the dword shifted right by 16 once per block): 1 + 8 integer ops per block instead of 24.
/// </summary>
internal struct DenormalNibbles : INibbles256
{
    public static float OutputScale => MathF.ScaleB(1f, 49);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prepare(Vector256<uint> d, out Vector256<uint> even, out Vector256<uint> odd) { even = Avx2.ShiftRightLogical(d, 16); odd = even; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble0(Vector256<uint> d, Vector256<uint> e) => (d & Vector256.Create(0x000Fu)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble1(Vector256<uint> d, Vector256<uint> o) => (d & Vector256.Create(0x00F0u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble2(Vector256<uint> d, Vector256<uint> e) => (d & Vector256.Create(0x0F00u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble3(Vector256<uint> d, Vector256<uint> o) => (d & Vector256.Create(0xF000u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble4(Vector256<uint> d, Vector256<uint> e) => (e & Vector256.Create(0x000Fu)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble5(Vector256<uint> d, Vector256<uint> o) => (o & Vector256.Create(0x00F0u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble6(Vector256<uint> d, Vector256<uint> e) => (e & Vector256.Create(0x0F00u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble7(Vector256<uint> d, Vector256<uint> o) => (o & Vector256.Create(0xF000u)).AsSingle();
}
