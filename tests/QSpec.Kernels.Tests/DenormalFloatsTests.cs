using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>
/// <see cref="DenormalFloats"/> and the W4A16 kernel on threads that read denormals as zero (DAZ set in MXCSR, as a
/// native library in the host process may leave it): the check sees it, and the kernel still gives the reference's
/// values, from the caller's thread (the fold form) and from a worker (the scalar fallback).
/// </summary>
public sealed class DenormalFloatsTests
{
    [Fact]
    public void KeptOnThisThread_SeesDenormalsAreZero()
    {
        if (!Mxcsr.Available) return;
        uint saved = Mxcsr.Get();
        try
        {
            Assert.True(DenormalFloats.KeptOnThisThread());
            Mxcsr.Set(saved | Mxcsr.DenormalsAreZero);
            Assert.False(DenormalFloats.KeptOnThisThread());
        }
        finally { Mxcsr.Set(saved); }
        Assert.True(DenormalFloats.KeptOnThisThread());
    }

    /// <summary>A caller with DAZ set gets the other form (AVX-512: fold, AVX2: shift): the same bits as a backend forced to it.</summary>
    [Theory]
    [InlineData(CpuKernelPath.Avx512, 32, 1), InlineData(CpuKernelPath.Avx512, 64, 3)]
    [InlineData(CpuKernelPath.Avx2, 32, 1), InlineData(CpuKernelPath.Avx2, 128, 3)]
    public void CallerWithDenormalsAreZero_GetsTheOtherForm(CpuKernelPath path, int g, int m)
    {
        if (!Mxcsr.Available || !Supported(path)) return;
        const int n = 37, k = 1025;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 61), n, k, g);
        var x = TestData.Floats(m * k, 62);
        using var fold = W4A16PathChecks.Backend(path, threads: 1, denormal: false);
        using var denormal = W4A16PathChecks.Backend(path, threads: 1, denormal: true);
        var expected = W4A16PathChecks.Run(fold, w, x, m);
        float[] got = OnThreadWithDaz(() => W4A16PathChecks.Run(denormal, w, x, m));
        TestData.AssertBitwise(expected, got);
    }

    /// <summary>
    /// Workers started by a thread with DAZ set inherit it; a later call from a clean thread picks the denormal form, and
    /// the workers' channels fall back to the scalar reference: every channel within the kernels' tolerance.
    /// </summary>
    [Theory, InlineData(CpuKernelPath.Avx512), InlineData(CpuKernelPath.Avx2)]
    public void WorkerWithDenormalsAreZero_FallsBackToTheReference(CpuKernelPath path)
    {
        if (!Mxcsr.Available || !Supported(path)) return;
        Assert.False(OnThreadWithDaz(() => { bool kept = true; var t = new Thread(() => kept = DenormalFloats.KeptOnThisThread()); t.Start(); t.Join(); return kept; }),
                     "a thread started by one with DAZ set did not inherit it: this test's premise");
        const int n = 203, k = 1025, m = 2;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 71), n, k, 32);
        var x = TestData.Floats(m * k, 72);
        using var backend = W4A16PathChecks.Backend(path, threads: 2, denormal: true);
        OnThreadWithDaz(() => W4A16PathChecks.Run(backend, w, x, m)); // starts the worker under DAZ
        var got = W4A16PathChecks.Run(backend, w, x, m);
        var expected = new float[m * n];
        LinearReference.W4A16(x, m, w, expected);
        TestData.AssertClose(expected, got, 2e-5f, BackendOpTests.L1Scale(x, m, w.Dequantize(), n, k));
    }

    /// <summary>
    /// The check must not depend on the thread that first touches the class. A fresh copy of the assembly (its own
    /// statics, initialised on first use) is first touched on a thread with DAZ set; a clean thread then still reads
    /// denormals as kept. The probe's denormal test weight, once a float static, was stored as 0 in that case and the
    /// check read "flushed" on every thread of the process (the denormal form then silently off).
    /// </summary>
    [Fact]
    public void ClassFirstUsedOnADazThread_StillSeesDenormalsKeptOnACleanThread()
    {
        if (!Mxcsr.Available) return;
        var context = new System.Runtime.Loader.AssemblyLoadContext("fresh QSpec.Kernels", isCollectible: true);
        try
        {
            var type = context.LoadFromAssemblyPath(typeof(DenormalFloats).Assembly.Location)
                .GetType(typeof(DenormalFloats).FullName!, throwOnError: true)!;
            Assert.NotSame(typeof(DenormalFloats), type);
            var kept = type.GetMethod(nameof(DenormalFloats.KeptOnThisThread))!;
            bool Check() => (bool)kept.Invoke(null, null)!;
            Assert.False(OnThreadWithDaz(Check), "DAZ set, yet the first use read denormals as kept: this test's premise");
            bool onClean = true;
            var t = new Thread(() => onClean = Check());
            t.Start();
            t.Join();
            Assert.True(onClean, "the class was initialised on a DAZ thread, and a clean thread now reads denormals as flushed");
        }
        finally { context.Unload(); }
    }

    private static bool Supported(CpuKernelPath path) => path == CpuKernelPath.Avx512 ? CpuPaths.HasAvx512 : CpuPaths.HasAvx2;

    private static T OnThreadWithDaz<T>(Func<T> body)
    {
        T result = default!;
        Exception? error = null;
        var t = new Thread(() =>
        {
            uint saved = Mxcsr.Get();
            Mxcsr.Set(saved | Mxcsr.DenormalsAreZero);
            try { result = body(); }
            catch (Exception e) { error = e; }
            finally { Mxcsr.Set(saved); }
        });
        t.Start();
        t.Join();
        if (error is not null) throw error;
        return result;
    }
}
