using System.Diagnostics;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// Fork/join over output-channel ranges on threads the backend owns. Work is never split over K, so results do not
/// depend on the thread count.
/// </summary>
/// <remarks>
/// A decode step makes ~150 linear calls of 0.05–1 ms each; handing each to the .NET thread pool (Parallel.For) costs a
/// task, a closure and often a wake-up from sleep per call. Here MaxThreads − 1 dedicated workers spin on a generation
/// counter for <see cref="SpinTicks"/> after each job (the gaps between linear calls are norms, RoPE and attention,
/// tens of µs), then block on a monitor so an idle backend costs no CPU. The caller runs part 0 itself. One job runs
/// at a time; a caller that finds the pool busy (another session on another thread) falls back to Parallel.For.
/// </remarks>
internal sealed class CpuWorkerPool : IDisposable
{
    /// <summary>How long an idle worker, or a caller waiting for workers, spins before it blocks: 0.25 ms.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 4000;

    private readonly int _workerCount;
    private readonly object _sleep = new();
    private readonly object _busy = new();
    private readonly ManualResetEventSlim _done = new(false, spinCount: 1);
    private Thread[]? _threads;
    private int _generation, _pending, _sleepers;
    private volatile bool _disposed;

    // The current job, published before _generation is incremented.
    private Action<int, int>? _body;
    private int _count, _units, _parts, _align;
    private Exception? _error;

    /// <summary>A pool for jobs of up to <paramref name="maxThreads"/> parts (the caller plus maxThreads − 1 workers).</summary>
    public CpuWorkerPool(int maxThreads) => _workerCount = maxThreads - 1;

    /// <summary>
    /// Runs <paramref name="body"/>(start, end) over [0, count) in up to <paramref name="threads"/> contiguous ranges whose
    /// boundaries are multiples of <paramref name="align"/>; runs inline when one range suffices.
    /// </summary>
    public void For(int count, int threads, int align, Action<int, int> body)
    {
        if (t_capture is { } capture && capture.Pool == this) { capture.Add(count, threads, align, body); return; }
        int units = (count + align - 1) / align;
        threads = Math.Max(1, Math.Min(Math.Min(threads, _workerCount + 1), units));
        if (threads == 1) { body(0, count); return; }
        if (_disposed) throw new ObjectDisposedException(nameof(CpuBackend));
        if (!Monitor.TryEnter(_busy)) { ForShared(count, threads, units, align, body); return; }
        try
        {
            EnsureStarted();
            _body = body; _count = count; _units = units; _parts = threads; _align = align; _error = null;
            _done.Reset();
            Volatile.Write(ref _pending, _workerCount); // every worker acknowledges every job, even one without a part
            Interlocked.Increment(ref _generation); // a full fence: the job is visible before any worker sees the new generation
            if (Volatile.Read(ref _sleepers) > 0)
                lock (_sleep) Monitor.PulseAll(_sleep);
            try { RunPart(0); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
            // Spin (yielding, so a descheduled worker can run on this core), then block until the last worker sets _done.
            // _pending is the only proof that every worker is done with this job. The event can be set by the previous
            // job's last worker, preempted between its decrement and its Set until after this job's Reset: trusting
            // that stale Set returned while a worker still ran, and the worker then read _body = null (the one
            // NullReferenceException seen in bench, rethrown by a later job) or wrote Y after the op returned.
            long deadline = Stopwatch.GetTimestamp() + SpinTicks;
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) > 0)
            {
                if (Stopwatch.GetTimestamp() <= deadline) { spin.SpinOnce(sleep1Threshold: -1); continue; }
                _done.Wait();
                _done.Reset(); // consumed: a stale Set must not satisfy the next Wait; the loop re-reads _pending
            }
            _body = null;
            if (_error is { } error) throw new AggregateException(error);
        }
        finally { Monitor.Exit(_busy); }
    }

    /// <summary>
    /// <see cref="For"/> over <paramref name="job"/>'s cached body, then releases the job's references, unless a capture
    /// records it (then <see cref="ChannelJobs"/> releases it after running it).
    /// </summary>
    public void Run(int count, int threads, int align, ChannelJob job)
    {
        if (t_capture is { } capture && capture.Pool == this) { capture.Add(count, threads, align, job.Body); return; }
        try { For(count, threads, align, job.Body); }
        finally { job.Release(); }
    }

    /// <summary>
    /// Until <see cref="EndCapture"/>, <see cref="For"/> calls on this thread record their job in <paramref name="jobs"/>
    /// instead of running it, so a fused op can run the jobs of several linear calls in one dispatch (each driver does
    /// all of a call's work inside its single For body). Other threads are not affected.
    /// </summary>
    public void BeginCapture(ChannelJobs jobs)
    {
        if (t_capture is not null) throw new InvalidOperationException("A capture is already active on this thread.");
        jobs.Reset(this);
        t_capture = jobs;
        t_captureSequence++;
    }

    /// <summary>Ends this thread's capture.</summary>
    public static void EndCapture() => t_capture = null;

    /// <summary>The number of jobs captured so far on this thread (0 when none is active): a driver's per-thread scratch
    /// slot, so captured jobs that are still to run never share scratch that differs between them.</summary>
    public static int CaptureSlot => t_capture?.Count ?? 0;

    /// <summary>This thread's active capture, numbered (1, 2, …; 0 outside one): every call recorded under one number
    /// reads the same, unmodified inputs, so a driver may reuse what an earlier call of the same capture prepared.</summary>
    public static long CaptureId => t_capture is null ? 0 : t_captureSequence;

    [ThreadStatic] private static ChannelJobs? t_capture;
    [ThreadStatic] private static long t_captureSequence;

    /// <summary>Stops the workers (they exit after the job in flight, if any).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_sleep) Monitor.PulseAll(_sleep);
        if (_threads is { } threads)
            foreach (var t in threads) t.Join();
        _done.Dispose();
    }

    private void RunPart(int t)
    {
        int start = (int)((long)_units * t / _parts) * _align;
        int end = Math.Min(_count, (int)((long)_units * (t + 1) / _parts) * _align);
        if (start < end) _body!(start, end);
    }

    private void EnsureStarted()
    {
        if (_threads is not null) return;
        var threads = new Thread[_workerCount];
        for (int i = 0; i < threads.Length; i++)
        {
            int part = i + 1;
            threads[i] = new Thread(() => WorkerLoop(part)) { IsBackground = true, Name = $"QSpec CPU worker {part}" };
            threads[i].Start();
        }
        _threads = threads;
    }

    private void WorkerLoop(int part)
    {
        int seen = 0;
        while (true)
        {
            int generation = WaitForJob(seen);
            if (generation < 0) return;
            seen = generation;
            if (part < _parts)
            {
                try { RunPart(part); }
                catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
            }
            if (Interlocked.Decrement(ref _pending) == 0) _done.Set();
        }
    }

    /// <summary>Spins, then blocks, until the generation moves past <paramref name="seen"/>; −1 once disposed.</summary>
    private int WaitForJob(int seen)
    {
        long deadline = Stopwatch.GetTimestamp() + SpinTicks;
        var spin = new SpinWait();
        while (true)
        {
            int g = Volatile.Read(ref _generation);
            if (g != seen) return g;
            if (_disposed) return -1;
            if (Stopwatch.GetTimestamp() < deadline) { spin.SpinOnce(sleep1Threshold: -1); continue; }
            lock (_sleep)
            {
                Interlocked.Increment(ref _sleepers);
                while (Volatile.Read(ref _generation) == seen && !_disposed) Monitor.Wait(_sleep);
                Interlocked.Decrement(ref _sleepers);
            }
            deadline = Stopwatch.GetTimestamp() + SpinTicks;
        }
    }

    /// <summary>The same split on the .NET thread pool, for a caller that finds the pool busy.</summary>
    private static void ForShared(int count, int threads, int units, int align, Action<int, int> body)
        => Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            int start = (int)((long)units * t / threads) * align;
            int end = Math.Min(count, (int)((long)units * (t + 1) / threads) * align);
            if (start < end) body(start, end);
        });
}
