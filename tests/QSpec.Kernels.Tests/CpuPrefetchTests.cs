using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.Kernels.Tests;

/// <summary>
/// <see cref="CpuPrefetch"/>: the machine rule reads the CPU as the kernel reports it, and both prefetch targets
/// (L1, L2) leave the AVX-512 kernels' bits unchanged. The cases flip a process-wide switch; a prefetch cannot change
/// any result, so tests running beside them are unaffected.
/// </summary>
public sealed class CpuPrefetchTests
{
    [Fact]
    public void AmdFamily19h_MatchesProcCpuinfo()
    {
        if (!File.Exists("/proc/cpuinfo") || !System.Runtime.Intrinsics.X86.X86Base.IsSupported) return;
        var lines = File.ReadLines("/proc/cpuinfo").TakeWhile(l => l.Length > 0).ToArray();
        string Field(string name) => lines.First(l => l.StartsWith(name, StringComparison.Ordinal)).Split(':', 2)[1].Trim();
        bool expected = Field("vendor_id") == "AuthenticAMD" && Field("cpu family") == "25";
        Assert.Equal(expected, CpuPrefetch.IsAmdFamily19h());
    }

    /// <summary>(bits or 16 for W4A16, G, M) on odd shapes: N = 37 (a partial 16-channel tile), K = 1088 and 172.</summary>
    [Theory]
    [InlineData(8, 32, 1)]
    [InlineData(8, 64, 2)]
    [InlineData(4, 128, 4)]
    [InlineData(8, 0, 9)]
    [InlineData(16, 32, 1)]
    [InlineData(16, 128, 3)]
    [InlineData(16, 0, 8)]
    public void BothTargets_GiveTheSameBits(int bits, int g, int m)
    {
        if (!CpuPaths.HasAvx512) return;
        using var backend = new CpuBackend(new CpuBackendOptions { Path = CpuKernelPath.Avx512, MaxThreads = 2, ParallelThreshold = 4096 });
        bool chosen = CpuPrefetch.ToL1;
        try
        {
            foreach (int k in new[] { 172, 1088 })
            {
                var w = Int4Matrix.CreateZero(37, k, g);
                new Random(k + g).NextBytes(w.Data);
                for (int i = 0; i < w.Scales.Length; i++) w.Scales[i] = (float)(Half)(0.001f + 0.0001f * (i % 97));
                var x = TestData.Floats(m * k, seed: m + k);
                using var matrix = backend.CreateMatrix(w, null, w.Rows, w.Columns);
                float[] Run(bool toL1)
                {
                    CpuPrefetch.ToL1 = toL1;
                    using var xb = TestData.Upload(backend, x);
                    using var yb = backend.Allocate((long)m * w.Rows);
                    if (bits == 16) backend.LinearW4A16(xb, matrix, yb, m);
                    else
                    {
                        using var qb = backend.AllocateQuantizedActivations(m, k);
                        backend.QuantizeActivations(xb, m, k, bits, qb);
                        backend.LinearInt(qb, matrix, yb, m);
                    }
                    return TestData.Download(backend, yb, m * w.Rows);
                }
                var l1 = Run(true);
                TestData.AssertBitwise(l1, Run(false));
                if (bits == 16) continue;
                var q = new sbyte[m * w.PaddedColumns];
                var s = new float[m];
                ActivationQuantReference.Quantize(x, m, k, bits, q, s);
                var expected = new float[m * w.Rows];
                LinearReference.Int(q, s, m, w, expected);
                TestData.AssertBitwise(expected, l1);
            }
        }
        finally { CpuPrefetch.ToL1 = chosen; }
    }
}
