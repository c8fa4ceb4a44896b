using System.Diagnostics;
using QSpec.Inference;
using QSpec.Kernels.Backends.Cpu;

namespace QSpec.Benchmarks;

/// <summary>
/// One-token decode forwards of the synthetic TinyLlama-1.1B at position 64 under two settings of a process-wide
/// kernel switch, alternated forward by forward (A B, then B A) so both see the same machine load.
/// </summary>
public sealed class AlternatedForwards : IDisposable
{
    private readonly LlamaModel _model;
    private readonly InferenceSession _session;

    public AlternatedForwards(int threads, int groupSize = SyntheticModel.DefaultGroupSize)
    {
        _model = LlamaModel.Create(SyntheticModel.Create(SyntheticModel.Shape("tinyllama-1.1b"), groupSize), new CpuBackend(new CpuBackendOptions { MaxThreads = threads }));
        _session = _model.CreateSession();
        _session.Prefill(Enumerable.Range(1, 64).ToArray(), 0, ExecutionMode.W4A16);
    }

    /// <summary>
    /// <paramref name="pairs"/> pairs of <paramref name="mode"/> forwards of <paramref name="tokens"/> tokens after 10 warm-up pairs, <paramref name="set"/>(false)
    /// before each A and (true) before each B; "A ms p25/med/p75 ... B ... median B/A r", the median of per-pair ratios.
    /// </summary>
    public string Compare(ExecutionMode mode, Action<bool> set, int pairs, int tokens = 1)
    {
        var batch = Enumerable.Repeat(5, tokens).ToArray();
        double Time(bool b)
        {
            set(b);
            long start = Stopwatch.GetTimestamp();
            _session.Prefill(batch, 64, mode);
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        for (int i = 0; i < 10; i++) { Time(false); Time(true); }
        var ta = new double[pairs]; var tb = new double[pairs]; var ratio = new double[pairs];
        for (int i = 0; i < pairs; i++)
        {
            if (i % 2 == 0) { ta[i] = Time(false); tb[i] = Time(true); }
            else { tb[i] = Time(true); ta[i] = Time(false); }
            ratio[i] = tb[i] / ta[i];
        }
        Array.Sort(ta); Array.Sort(tb); Array.Sort(ratio);
        static double Q(double[] t, double q) => t[(int)(q * (t.Length - 1))];
        return $"A ms p25/med/p75 {Q(ta, .25):F2}/{Q(ta, .5):F2}/{Q(ta, .75):F2}  B {Q(tb, .25):F2}/{Q(tb, .5):F2}/{Q(tb, .75):F2}  median B/A {Q(ratio, .5):F3}";
    }

    public void Dispose()
    {
        _session.Dispose();
        _model.Dispose();
    }
}
