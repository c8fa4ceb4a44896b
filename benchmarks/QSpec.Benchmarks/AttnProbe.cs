using System.Diagnostics;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// `attnprobe [positions=2000] [headSize=64] [heads=32] [kvHeads=4] [layers=22] [queryScale=1]`: the CPU attention kernel alone, one
/// query row on the calling thread, over <c>layers</c> distinct float32 KV caches in turn (22 TinyLlama layers at 2,000
/// positions: 90 MB, so read from memory as in a decode step). Prints the best µs per layer over 15 passes and ns per
/// (head, position), the number to compare between kernel versions (run A B A B as separate processes). Queries are
/// uniform in [0, queryScale): 180 spreads a head's scores over ~100, where most softmax weights would be denormal
/// (see <see cref="SoftmaxExpMap"/>).
/// </summary>
public static class AttnProbe
{
    public static void Run(TextWriter o, int count, int hs, int heads, int kvHeads, int layers, float queryScale = 1f)
    {
        int kvDim = kvHeads * hs;
        var r = new Random(1);
        var kc = new CpuBuffer[layers]; var vc = new CpuBuffer[layers];
        for (int l = 0; l < layers; l++)
        {
            kc[l] = new CpuBuffer((long)count * kvDim); vc[l] = new CpuBuffer((long)count * kvDim);
            for (int i = 0; i < count * kvDim; i++) { kc[l].Span[i] = (float)r.NextDouble() - 0.5f; vc[l].Span[i] = (float)r.NextDouble(); }
        }
        var q = new float[heads * hs]; for (int i = 0; i < q.Length; i++) q[i] = queryScale * (float)r.NextDouble();
        var outp = new float[heads * hs];
        void All() { for (int l = 0; l < layers; l++) AttentionKernel.Run(q, 1, heads, kvHeads, hs, kc[l], vc[l], 0, count - 1, outp, true); }
        for (int w = 0; w < 5; w++) All();
        double best = double.MaxValue;
        for (int b = 0; b < 15; b++) { var sw = Stopwatch.StartNew(); All(); best = Math.Min(best, sw.Elapsed.TotalMicroseconds / layers); }
        foreach (var b in kc.Concat(vc)) b.Dispose();
        o.WriteLine($"count {count} hs {hs} heads {heads}/{kvHeads} layers {layers} query scale {queryScale}: {best:F1} us per layer, {best * 1e3 / (heads * count):F2} ns per (head,pos)");
    }
}
