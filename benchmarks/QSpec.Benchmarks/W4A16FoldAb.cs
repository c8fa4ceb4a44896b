using System.Runtime.Intrinsics;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Benchmarks;

/// <summary>
/// `w4a16foldab [threads=2] [groups=64,128,0] [hot]`: the AVX2 W4A16 kernel (<see cref="LinearW4A16Avx2"/>, denormal form) at
/// G ≥ 64 as it is (one chain of 8 FMAs per block and row-channel, folded once) against two chains of 4 (even and odd
/// nibbles, each folded with the same scale, as at G = 32): the loop-carried chain gets one more FMA per block, the
/// block's own chain half the latency. Interleaved; both against <see cref="LinearReference.W4A16"/>.
/// </summary>
public static unsafe class W4A16FoldAb
{
    /// <summary>G ≥ 64 with the G = 32 fold structure (the odd chain starts from the layout's zeros).</summary>
    private struct BlockGroupsFoldHalves : IGroupSplit
    {
        public static bool Split => false;
        public static bool Uniform => false;
        public static bool Table => false;
        public static bool FoldHalves => true;
    }

    private struct BlockGroupsSumHalves : IGroupSplit
    {
        public static bool Split => false;
        public static bool Uniform => false;
        public static bool Table => false;
        public static bool FoldHalves => false;
        public static bool SumHalves => true;
    }

    public static void Run(TextWriter o, int threads, int[] groupSizes, bool hot)
    {
        using var pool = new CpuWorkerPool(threads);
        bool denormal = DenormalFloats.Enabled;
        o.WriteLine($"W4A16 AVX2 fold A/B ({(denormal ? "denormal" : "shift")} form), {threads} threads, weights {(hot ? "hot" : "cold (96 MiB of copies)")}: best us of 21 alternating batches");
        o.WriteLine($"{"shape",-11} {"G",3} {"M",2} {"once us",9} {"halves us",9} {"halves/once",11} {"sum us",9} {"sum/once",8} {"err once",9} {"err halves",10} {"err sum",8}");
        foreach (int g in groupSizes)
            foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
            {
                var rng = new Random(7);
                var ws = LinearCase.RandomCopies(n, k, g, hot, rng);
                int copies = ws.Length;
                foreach (int m in Roofline.Rows)
                {
                    var x = new float[m * k];
                    for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
                    float[] yOnce = new float[m * n], yHalves = new float[m * n], ySum = new float[m * n], expected = new float[m * n];
                    LinearReference.W4A16(x, m, ws[0], expected);
                    var (xn, off, xs) = LinearW4A16Avx2Activations.Permute(x, m, k, split: false, denormal);
                    int next = 0;
                    var t = W4A16Avx2Ab.Alternate([() => Call<BlockGroups>(pool, threads, xn, off, xs, m, ws[next], yOnce, denormal),
                                                   () => Call<BlockGroupsFoldHalves>(pool, threads, xn, off, xs, m, ws[next], yHalves, denormal),
                                                   () => Call<BlockGroupsSumHalves>(pool, threads, xn, off, xs, m, ws[next], ySum, denormal)],
                                                  () => next = (next + 1) % copies);
                    Call<BlockGroups>(pool, threads, xn, off, xs, m, ws[0], yOnce, denormal);
                    Call<BlockGroupsFoldHalves>(pool, threads, xn, off, xs, m, ws[0], yHalves, denormal);
                    Call<BlockGroupsSumHalves>(pool, threads, xn, off, xs, m, ws[0], ySum, denormal);
                    o.WriteLine($"{n + "x" + k,-11} {g,3} {m,2} {t[0],9:F1} {t[1],9:F1} {t[1] / t[0],11:F2} {t[2],9:F1} {t[2] / t[0],8:F2} {Error(yOnce, expected),9:E1} {Error(yHalves, expected),10:E1} {Error(ySum, expected),8:E1}");
                }
            }
    }

    private static double Error(float[] y, float[] expected)
    {
        double worst = 0, scale = 1e-30;
        for (int i = 0; i < y.Length; i++) { worst = Math.Max(worst, Math.Abs(y[i] - expected[i])); scale = Math.Max(scale, Math.Abs(expected[i])); }
        return worst / scale;
    }

    private static void Call<TG>(CpuWorkerPool pool, int threads, float[] xn, int off, int xs, int rows, Int4Matrix w, float[] y, bool denormal)
        where TG : struct, IGroupSplit
    {
        var groups = new GroupIndex(w);
        pool.For(w.Rows, threads, LinearW4A16Avx2.ChannelBlock, (start, end) =>
        {
            var acc = stackalloc Vector256<float>[LinearW4A16Avx2.AccumulatorCount(rows)];
            fixed (byte* wd = w.Data)
            fixed (float* sc = w.Scales, xp = xn, yp = y)
            {
                if (denormal) LinearW4A16Avx2.Run<TG, DenormalNibbles>(wd, sc, null, null, w.RowBytes, w.GroupCount, groups, w.Rows, start, end, rows, xp + off, xs, yp, acc);
                else LinearW4A16Avx2.Run<TG, ShiftNibbles>(wd, sc, null, null, w.RowBytes, w.GroupCount, groups, w.Rows, start, end, rows, xp + off, xs, yp, acc);
            }
        });
    }
}
