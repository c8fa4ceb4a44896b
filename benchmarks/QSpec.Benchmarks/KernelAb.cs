using System.Diagnostics;
using System.Runtime.Intrinsics;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;

namespace QSpec.Benchmarks;

/// <summary>
/// `ab`: the W4A16 multi-row kernel against the previous per-row-pair one (LinearFloatAvx512 over packed sources), one
/// thread, interleaved call by call so both see the same machine load; prints the best time of each and the ratio.
/// </summary>
public static unsafe class KernelAb
{
    public static void Run(TextWriter o, int n = 5632, int k = 2048, int groupSize = 0)
    {
        var w = Int4Matrix.CreateZero(n, k, groupSize);
        new Random(1).NextBytes(w.Data);
        w.Scales.AsSpan().Fill(0.01f);
        int kp = w.PaddedColumns;
        var groups = new GroupIndex(w);
        o.WriteLine($"W4A16 {n}x{k} G={groupSize}, 1 thread: best us (new multi-row / old row-pair)");
        foreach (int m in new[] { 1, 2, 4, 8 })
        {
            var x = GC.AllocateArray<float>(m * kp + 16, pinned: true);
            for (int i = 0; i < m * kp; i++) x[i] = (i % 7) * 0.1f;
            var y = new float[m * n];
            var acc = GC.AllocateArray<float>(64 * m * 16 + 16, pinned: true);
            double bestNew = double.MaxValue, bestOld = double.MaxValue;
            fixed (byte* wd = w.Data)
            fixed (float* sc = w.Scales, xp = x, yp = y, ap = acc)
            {
                var a = (Vector512<float>*)(((nint)ap + 63) & ~(nint)63);
                for (int rep = 0; rep < 40; rep++)
                {
                    long t = Stopwatch.GetTimestamp();
                    LinearW4A16Avx512.Run(wd, sc, w.RowBytes, w.GroupCount, groups, n, 0, n, m, xp, kp, yp, a);
                    bestNew = Math.Min(bestNew, Stopwatch.GetElapsedTime(t).TotalMicroseconds);
                    t = Stopwatch.GetTimestamp();
                    var provider = new PackedProvider512(wd, sc, w.RowBytes, w.GroupCount, groups);
                    LinearFloatAvx512.Run<PackedProvider512, PackedSource512>(ref provider, 0, n, m, kp / 64, xp, kp, yp, n, a);
                    bestOld = Math.Min(bestOld, Stopwatch.GetElapsedTime(t).TotalMicroseconds);
                }
            }
            o.WriteLine($"M={m}: new {bestNew,8:F1}  old {bestOld,8:F1}  new/old {bestNew / bestOld:F2}");
        }
    }
}
