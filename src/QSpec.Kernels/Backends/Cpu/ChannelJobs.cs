namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// The channel jobs of the linear calls of one fused op, captured from <see cref="CpuWorkerPool.For"/> (see
/// <see cref="CpuWorkerPool.BeginCapture"/>), and their run as ONE dispatch:
/// <list type="bullet">
/// <item>LinearMany / LinearAdd: the jobs' aligned channel units are concatenated and split over the threads, so a
/// small matrix (wk, wv) shares a thread with part of a large one (wq) instead of getting a dispatch of its own;
/// LinearAdd adds each range to the residual while it is in L1.</item>
/// <item>LinearSwiGlu: W1 and W3 run over the same channel range in each part, then silu(gate)·up on that range.</item>
/// </list>
/// A job's body writes Y[m, j] for m &lt; M and the channels j of its range only, and every element of the epilogues is
/// computed by the same function as the unfused op (SwiGLU's vector map and the add are per element, independent of
/// where a range starts), so the result equals the composition bit for bit for any split.
/// </summary>
/// <remarks>One instance per calling thread, reused by every fused op on it; the delegates it runs are cached, so a
/// fused op allocates nothing of its own.</remarks>
internal sealed class ChannelJobs
{
    private readonly record struct Job(int Count, int Align, Action<int, int> Body);

    private enum Epilogue { None, Add, SwiGlu }

    private Job[] _jobs = new Job[4];
    private int[] _firstUnit = new int[5]; // _firstUnit[i]: the first unit of job i in the concatenation; [Count]: the total
    private readonly Action<int, int> _concatenated, _paired;

    // The epilogue of the run in flight: Add: a += b; SwiGlu: a = silu(a)·b; both over rows of stride _n.
    private Epilogue _epilogue;
    private float[]? _a, _b;
    private int _rows, _n;
    private bool _vector;

    public ChannelJobs()
    {
        _concatenated = RunConcatenated;
        _paired = RunPaired;
    }

    /// <summary>The pool whose For calls this capture records.</summary>
    public CpuWorkerPool? Pool { get; private set; }

    /// <summary>Jobs captured.</summary>
    public int Count { get; private set; }

    internal void Reset(CpuWorkerPool pool)
    {
        Pool = pool;
        Count = 0;
    }

    internal void Add(int count, int threads, int align, Action<int, int> body)
    {
        _ = threads; // the fused run chooses the threads from the op's total work
        if (Count == _jobs.Length)
        {
            Array.Resize(ref _jobs, 2 * Count);
            Array.Resize(ref _firstUnit, 2 * Count + 1);
        }
        _jobs[Count++] = new Job(count, align, body);
    }

    /// <summary>
    /// Whether the capture holds exactly one job per matrix, job i over channels [0, channels[i]): the shape the fused
    /// runs need. Anything else (a driver that ran inline or split its work in two) is run as captured by <see cref="RunSequential"/>.
    /// </summary>
    public bool Matches(ReadOnlySpan<int> channels)
    {
        if (Count != channels.Length) return false;
        for (int i = 0; i < Count; i++)
            if (_jobs[i].Count != channels[i] || _jobs[i].Align <= 0) return false;
        return true;
    }

    /// <summary>Every job in order, each in its own dispatch, as the unfused calls would have run them.</summary>
    public void RunSequential(int threads)
    {
        try
        {
            for (int i = 0; i < Count; i++) Pool!.For(_jobs[i].Count, threads, _jobs[i].Align, _jobs[i].Body);
        }
        finally { Clear(); }
    }

    /// <summary>All jobs in one dispatch over their concatenated units (LinearMany).</summary>
    public void RunConcatenated(int threads) => Run(threads, Epilogue.None, null, null, 0, 0, false);

    /// <summary>The one job of a LinearAdd with residual[m, j] += scratch[m, j] per range (rows of stride n).</summary>
    public void RunAdd(int threads, float[] residual, float[] scratch, int rows, int n, bool vector)
        => Run(threads, Epilogue.Add, residual, scratch, rows, n, vector);

    /// <summary>Jobs 0 (W1 into gate) and 1 (W3 into up) over the same ranges, then gate = silu(gate)·up per range.</summary>
    public void RunSwiGlu(int threads, float[] gate, float[] up, int rows, int n, bool vector)
    {
        if (_jobs[0].Align != _jobs[1].Align) { RunSequential(threads); ElementwiseKernels.SwiGlu(gate.AsSpan(0, rows * n), up.AsSpan(0, rows * n), vector); return; }
        Run(threads, Epilogue.SwiGlu, gate, up, rows, n, vector);
    }

    private void Run(int threads, Epilogue epilogue, float[]? a, float[]? b, int rows, int n, bool vector)
    {
        _epilogue = epilogue; _a = a; _b = b; _rows = rows; _n = n; _vector = vector;
        try
        {
            if (epilogue == Epilogue.SwiGlu)
            {
                int align = _jobs[0].Align;
                Pool!.For((_jobs[0].Count + align - 1) / align, threads, 1, _paired);
                return;
            }
            int units = 0;
            for (int i = 0; i < Count; i++)
            {
                _firstUnit[i] = units;
                units += (_jobs[i].Count + _jobs[i].Align - 1) / _jobs[i].Align;
            }
            _firstUnit[Count] = units;
            Pool!.For(units, threads, 1, _concatenated);
        }
        finally { Clear(); }
    }

    /// <summary>Units [u0, u1) of the concatenation: the overlapped part of each job's channels, then its epilogue.</summary>
    private void RunConcatenated(int u0, int u1)
    {
        for (int i = 0; i < Count; i++)
        {
            int first = _firstUnit[i], last = _firstUnit[i + 1];
            if (last <= u0) continue;
            if (first >= u1) break;
            var job = _jobs[i];
            int start = (Math.Max(u0, first) - first) * job.Align;
            int end = Math.Min(job.Count, (Math.Min(u1, last) - first) * job.Align);
            job.Body(start, end);
            if (_epilogue == Epilogue.Add)
                for (int m = 0; m < _rows; m++)
                    ElementwiseKernels.Add(_a.AsSpan(m * _n + start, end - start), _b.AsSpan(m * _n + start, end - start), _vector);
        }
    }

    /// <summary>Units [u0, u1) of W1 and W3 (same channels), then SwiGLU on those channels of every row.</summary>
    private void RunPaired(int u0, int u1)
    {
        var w1 = _jobs[0]; var w3 = _jobs[1];
        int start = u0 * w1.Align, end = Math.Min(w1.Count, u1 * w1.Align);
        w1.Body(start, end);
        w3.Body(start, end);
        for (int m = 0; m < _rows; m++)
            ElementwiseKernels.SwiGlu(_a.AsSpan(m * _n + start, end - start), _b.AsSpan(m * _n + start, end - start), _vector);
    }

    /// <summary>Drops the references to the call's delegates and buffers (so a capture keeps nothing alive).</summary>
    internal void Clear()
    {
        for (int i = 0; i < Count; i++) (_jobs[i].Body.Target as ChannelJob)?.Release();
        Array.Clear(_jobs, 0, Count);
        Count = 0;
        _a = _b = null;
        Pool = null;
    }
}
