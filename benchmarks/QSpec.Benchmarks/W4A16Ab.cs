using System.Runtime.Intrinsics;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;

namespace QSpec.Benchmarks;

/// <summary>
/// `w4a16ab [threads] [groups] [hot]`: the in-place-nibble W4A16 kernel (<see cref="LinearW4A16Nibble"/>, with its activation
/// permutation) against the previous kernel (<see cref="LinearW4A16Avx512"/>, with its zero-padded copy) on the TinyLlama-1.1B
/// shapes, G in a comma list (0 = per channel; default 32,128,0), M = 1, 2, 4, 8. Both run the same dispatch (a
/// <see cref="CpuWorkerPool"/> split by 4-channel blocks) and alternate batch by batch, so they see the same machine load;
/// each prints its best-of-21 µs, GB/s (weights + scales) and the ratio new/old. Weights cycle through 96 MiB of copies
/// (read from memory, like a forward pass) or, with `hot`, one copy (from cache: the compute bound).
/// </summary>
public static unsafe class W4A16Ab
{
    public static void Run(TextWriter o, int threads, int[] groupSizes, bool hot)
    {
        using var pool = new CpuWorkerPool(threads);
        double streamGBs = Roofline.StreamGBs(threads);
        o.WriteLine($"W4A16 A/B, {threads} threads, stream read {streamGBs:F1} GB/s, weights {(hot ? "hot (one copy)" : "cold (96 MiB of copies)")}: best us, GB/s; new = LinearW4A16Nibble, old = LinearW4A16Avx512 (vpmovzxbd + vpermps)");
        o.WriteLine($"{"shape",-11} {"G",3} {"M",2} {"new us",8} {"GB/s",6} {"old us",8} {"GB/s",6} {"new/old",7} {"new xM1",7} {"old xM1",7} {"new %bw",7}");
        foreach (int g in groupSizes)
            foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
            {
                double new1 = 0, old1 = 0;
                var rng = new Random(7);
                var ws = LinearCase.RandomCopies(n, k, g, hot, rng);
                var w0 = ws[0];
                int copies = ws.Length;
                foreach (int m in Roofline.Rows)
                {
                    var x = new float[m * k];
                    for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
                    var yNew = new float[m * n];
                    var yOld = new float[m * n];
                    int next = 0;
                    var (tNew, tOld) = Alternate(() => New(pool, threads, x, m, ws[next], yNew), () => Old(pool, threads, x, m, ws[next], yOld), () => next = (next + 1) % copies);
                    if (m == 1) { new1 = tNew; old1 = tOld; }
                    double bytes = w0.SizeInBytes;
                    o.WriteLine($"{n + "x" + k,-11} {g,3} {m,2} {tNew,8:F1} {bytes / tNew / 1e3,6:F1} {tOld,8:F1} {bytes / tOld / 1e3,6:F1} {tNew / tOld,7:F2} {tNew / new1,7:F2} {tOld / old1,7:F2} {100 * bytes / tNew / 1e3 / streamGBs,7:F0}");
                }
            }
    }

    /// <summary>Best µs per call of <paramref name="a"/> and <paramref name="b"/>, timed in turn after a JIT warm-up (<see cref="W4A16Avx2Ab.Alternate"/>).</summary>
    internal static (double A, double B) Alternate(Action a, Action b, Action step)
    {
        var t = W4A16Avx2Ab.Alternate([a, b], step);
        return (t[0], t[1]);
    }

    internal static void New(CpuWorkerPool pool, int threads, float[] x, int rows, Int4Matrix w, float[] y)
    {
        var groups = new GroupIndex(w);
        var (xn, off, xs) = LinearW4A16NibbleActivations.Permute(x, rows, w.Columns, groups.BlockShift < 0);
        pool.For(w.Rows, threads, LinearW4A16Nibble.ChannelBlock, (start, end) =>
        {
            var acc = stackalloc Vector512<float>[LinearW4A16Nibble.AccumulatorCount(rows)];
            fixed (byte* wd = w.Data)
            fixed (float* sc = w.Scales, xp = xn, yp = y)
                LinearW4A16Nibble.Run(wd, sc, null, null, w.RowBytes, w.GroupCount, groups, w.Rows, start, end, rows, xp + off, xs, yp, acc);
        });
    }

    [ThreadStatic] private static float[]? t_padded;

    private static void Old(CpuWorkerPool pool, int threads, float[] x, int rows, Int4Matrix w, float[] y)
    {
        int k = w.Columns, kp = w.PaddedColumns;
        var padded = t_padded;
        if (padded is null || padded.Length < rows * kp + 16) t_padded = padded = GC.AllocateUninitializedArray<float>(rows * kp + 16, pinned: true);
        int offset;
        fixed (float* p = padded) offset = (int)((64 - ((nint)p & 63)) & 63) / sizeof(float);
        for (int m = 0; m < rows; m++)
        {
            x.AsSpan(m * k, k).CopyTo(padded.AsSpan(offset + m * kp, k));
            padded.AsSpan(offset + m * kp + k, kp - k).Clear();
        }
        var groups = new GroupIndex(w);
        pool.For(w.Rows, threads, LinearW4A16Avx512.ChannelBlock, (start, end) =>
        {
            var acc = stackalloc Vector512<float>[LinearW4A16Avx512.AccumulatorCount(rows)];
            fixed (byte* wd = w.Data)
            fixed (float* sc = w.Scales, xp = padded, yp = y)
                LinearW4A16Avx512.Run(wd, sc, w.RowBytes, w.GroupCount, groups, w.Rows, start, end, rows, xp + offset, kp, yp, acc);
        });
    }
}
