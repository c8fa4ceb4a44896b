using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Tests;

/// <summary>CPU-specific behaviour: path fallback, naming, and results that do not depend on the thread count.</summary>
public sealed class CpuBackendTests
{
    [Fact]
    public void ForcedPath_FallsBackToWhatTheProcessorHas()
    {
        using var vnni = new CpuBackend(new CpuBackendOptions { Path = CpuKernelPath.AvxVnni });
        Assert.Equal(CpuPaths.HasAvxVnni ? CpuKernelPath.AvxVnni : CpuPaths.HasAvx2 ? CpuKernelPath.Avx2 : CpuKernelPath.Scalar, vnni.IntPath);
        using var scalar = new CpuBackend(new CpuBackendOptions { Path = CpuKernelPath.Scalar });
        Assert.Equal(CpuKernelPath.Scalar, scalar.FloatPath);
        Assert.Contains("float scalar, int scalar", scalar.Name);
        using var auto = new CpuBackend();
        Assert.Equal(CpuPaths.HasAvx512 ? CpuKernelPath.Avx512 : CpuPaths.HasAvx2 ? CpuKernelPath.Avx2 : CpuKernelPath.Scalar, auto.FloatPath);
    }

    /// <summary>The name says which W4A16 form runs: forced forms on the machine's widest path, the scalar path, and the default (the probe's choice).</summary>
    [Fact]
    public void Name_SaysWhichW4A16FormRuns()
    {
        using var scalar = new CpuBackend(new CpuBackendOptions { Path = CpuKernelPath.Scalar });
        Assert.Contains("w4a16 scalar", scalar.Name);
        using var denormal = new CpuBackend(new CpuBackendOptions { DenormalW4A16 = true });
        using var other = new CpuBackend(new CpuBackendOptions { DenormalW4A16 = false });
        using var table = new CpuBackend(new CpuBackendOptions { DenormalW4A16 = false, W4A16TableKernel = true });
        using var auto = new CpuBackend();
        if (CpuPaths.HasAvx512)
        {
            Assert.Contains("w4a16 denormal", denormal.Name);
            Assert.Contains("w4a16 fold", other.Name);
            Assert.Contains("w4a16 table", table.Name);
            Assert.Contains(DenormalFloats.Enabled ? "w4a16 denormal" : "w4a16 fold", auto.Name);
        }
        else if (CpuPaths.HasAvx2)
        {
            Assert.Contains("w4a16 denormal", denormal.Name);
            Assert.Contains("w4a16 shift", other.Name);
            Assert.Contains("w4a16 shift", table.Name); // the table kernel is AVX-512 only
        }
    }

    [Fact]
    public void NonPositiveMaxThreads_Throws()
        => Assert.Throws<ArgumentOutOfRangeException>("options", () => new CpuBackend(new CpuBackendOptions { MaxThreads = 0 }));

    [Theory, MemberData(nameof(TestBackends.CpuNames), MemberType = typeof(TestBackends))]
    public void Threads_DoNotChangeResults(string name)
    {
        const int n = 67, k = 172, m = 5;
        using var probe = (CpuBackend)TestBackends.Create(name);
        var path = name == "cpu-avxvnni" ? CpuKernelPath.AvxVnni : probe.FloatPath;
        var w = Int4Matrix.Quantize(TestData.Floats(n * k, 1), n, k, 32);
        var dense = TestData.Floats(n * k, 2);
        var x = TestData.Floats(m * k, 3);
        float[][] Run(int threads)
        {
            using var b = new CpuBackend(new CpuBackendOptions { Path = path, MaxThreads = threads, ParallelThreshold = 0 });
            using var wm = b.CreateMatrix(w, dense, n, k);
            using var xb = TestData.Upload(b, x);
            using var qb = b.AllocateQuantizedActivations(m, k);
            using var y1 = b.Allocate(m * n);
            using var y2 = b.Allocate(m * n);
            using var y3 = b.Allocate(m * n);
            b.LinearW4A16(xb, wm, y1, m);
            b.LinearF32(xb, wm, y2, m);
            b.QuantizeActivations(xb, m, k, 8, qb);
            b.LinearInt(qb, wm, y3, m);
            return [TestData.Download(b, y1, m * n), TestData.Download(b, y2, m * n), TestData.Download(b, y3, m * n)];
        }
        var one = Run(1);
        var three = Run(3);
        for (int i = 0; i < one.Length; i++) TestData.AssertBitwise(one[i], three[i]);
    }
}
