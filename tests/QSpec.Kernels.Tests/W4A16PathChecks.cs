using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>What the per-path W4A16 kernel tests (<see cref="W4A16NibbleTests"/>, <see cref="W4A16Avx2Tests"/>) share: a forced-path backend, one call, and the reference check.</summary>
internal static class W4A16PathChecks
{
    /// <summary>
    /// A CPU backend forced to <paramref name="path"/> that splits even the smallest matrix over <paramref name="threads"/>;
    /// <paramref name="denormal"/> forces the W4A16 kernel's form, AVX-512 or AVX2 (null: the machine's default);
    /// <paramref name="table"/> turns on <see cref="CpuBackendOptions.W4A16TableKernel"/>.
    /// </summary>
    public static CpuBackend Backend(CpuKernelPath path, int threads, bool? denormal = null, bool table = false) =>
        new(new CpuBackendOptions { MaxThreads = threads, Path = path, ParallelThreshold = 0, DenormalW4A16 = denormal, W4A16TableKernel = table });

    /// <summary>Y[m, N] of one LinearW4A16 call on <paramref name="backend"/>.</summary>
    public static float[] Run(IBackend backend, Int4Matrix w, float[] x, int m)
    {
        using var matrix = backend.CreateMatrix(w, null, w.Rows, w.Columns);
        using var xb = TestData.Upload(backend, x);
        using var yb = backend.Allocate(m * w.Rows);
        backend.LinearW4A16(xb, matrix, yb, m);
        return TestData.Download(backend, yb, m * w.Rows);
    }

    /// <summary>The path's result against <see cref="LinearReference.W4A16"/>, within <paramref name="tolerance"/> relative to Σ_k |x_k·w_k| per output.</summary>
    public static void AssertMatchesReference(CpuKernelPath path, Int4Matrix w, float[] x, int m, float tolerance, bool? denormal = null, bool table = false)
    {
        int n = w.Rows, k = w.Columns;
        var expected = new float[m * n];
        LinearReference.W4A16(x, m, w, expected);
        var scale = BackendOpTests.L1Scale(x, m, w.Dequantize(), n, k);
        using var backend = Backend(path, threads: 2, denormal, table);
        TestData.AssertClose(expected, Run(backend, w, x, m), tolerance, scale);
    }
}
