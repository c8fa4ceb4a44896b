using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Benchmarks;

/// <summary>
/// `w4a16denormab [threads=2] [groups=32]`: the AVX2 W4A16 kernel (<see cref="LinearW4A16Avx2"/>) in its two forms,
/// shift + and + or (<see cref="ShiftNibbles"/>) against the denormal form (<see cref="DenormalNibbles"/>: an AND alone,
/// the weight read as a denormal float; the default where <see cref="DenormalFloats.Enabled"/>), each with its own
/// activation layout, interleaved, cold weights, and both against <see cref="LinearReference.W4A16"/> (the two forms
/// cannot give the same bits: their chains sum other, exactly scaled, products).
/// </summary>
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
        var (xn, off, xs) = LinearW4A16Avx2Activations.Permute(x, rows, w.Columns, split, denormal: typeof(TD) == typeof(DenormalNibbles));
        W4A16Avx2Ab.Kernel<TD>(pool, threads, xn, off, xs, rows, w, y);
    }
}
