using System.Runtime;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;
using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>
/// Host ↔ device copies stay correct while a background thread runs compacting collections: ILGPU turns the host
/// <c>ref</c> into a raw pointer and then allocates before copying, so an unpinned array that the GC moves in that window
/// is read from (or written to) its old address. Small, freshly allocated (gen-0, movable) arrays are the ones at risk.
/// </summary>
[Collection(IlgpuHostCopyCollection.Name)]
public sealed class HostCopyTests(IlgpuFixture fixture)
{
    private readonly IlgpuBackend _b = fixture.Backend;

    /// <summary>Round trips of plain copies: unpinned ones failed about 1 in 1,000-4,000 under this pressure.</summary>
    private const int CopyRoundTrips = 8000;

    /// <summary>Round trips that also launch kernels (slower on the simulator).</summary>
    private const int KernelRoundTrips = 300;

    [Fact]
    public void UploadDownload_SurviveCompactingCollections()
    {
        using var buffer = _b.Allocate(64);
        using var halves = _b.AllocateKv(64, KvPrecision.Float16);
        RunUnderCompaction(CopyRoundTrips, i =>
        {
            int n = 1 + i % 64;
            var source = Values(n, i);
            _b.Upload(source, i % 2 == 0 ? buffer : halves);
            var back = new float[n];
            _b.Download(i % 2 == 0 ? buffer : halves, back);
            for (int j = 0; j < n; j++)
                if (back[j] != source[j]) Assert.Fail($"Round trip {i}, element {j}: expected {source[j]}, got {back[j]}.");
        });
    }

    [Fact]
    public void IndexUploads_AndArgmax_SurviveCompactingCollections()
    {
        // Embedding uploads token ids and Argmax downloads one int: both through host memory the GC may move.
        const int vocab = 37, dim = 3;
        var table = Values(vocab * dim, 7);
        using var tb = _b.UploadNew(table);
        using var xb = _b.Allocate(4 * dim);
        RunUnderCompaction(KernelRoundTrips, i =>
        {
            int[] tokens = [i % vocab, (i * 7 + 3) % vocab];
            _b.Embedding(tb, tokens, dim, xb);
            float[] rows = [.. table.AsSpan(tokens[0] * dim, dim), .. table.AsSpan(tokens[1] * dim, dim)];
            Assert.Equal(Ops.ElementwiseReference.Argmax(rows), _b.Argmax(xb, 0, 2 * dim));
        });
    }

    [Fact]
    public void CreateMatrix_SurvivesCompactingCollections()
    {
        var x = Values(64, 3);
        RunUnderCompaction(KernelRoundTrips / 4, i =>
        {
            var w = Int4Matrix.Quantize(Values(2 * 64, i), 2, 64, 32);
            using var m = _b.CreateMatrix(w, null, 2, 64);
            using var xb = _b.UploadNew(x);
            using var yb = _b.Allocate(2);
            _b.LinearW4A16(xb, m, yb, 1);
            var expected = new float[2];
            Ops.LinearReference.W4A16(x, 1, w, expected);
            IlgpuTestData.AssertClose(expected, _b.DownloadAll(yb), j => 1e-5 * Math.Abs(expected[j]), $"W4A16 after matrix {i}");
        });
    }

    private static float[] Values(int n, int seed)
    {
        var a = new float[n];
        for (int j = 0; j < n; j++) a[j] = 0.5f + ((seed * 31 + j * 17) % 512) / 1024f; // never 0 (a stale read shows), exact in FP16
        return a;
    }

    /// <summary>Runs <paramref name="roundTrip"/> <paramref name="count"/> times while another thread compacts the heap.</summary>
    private static void RunUnderCompaction(int count, Action<int> roundTrip)
    {
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            // Gen-1 collections compact gen 0 and 1, which is where the small fresh arrays at risk live. Full (gen-2)
            // compactions in a tight loop stopped every other test in the process for seconds at a time (the suite took
            // over 10 minutes on 2 cores), so one in 64 is full.
            for (int n = 0; !stop.IsCancellationRequested; n++)
            {
                bool full = n % 64 == 63;
                if (full) GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
                GC.Collect(full ? 2 : 1, GCCollectionMode.Forced, blocking: true, compacting: true);
                Thread.Sleep(1); // back-to-back forced collections (Thread.Yield) hung the process in full-suite runs
            }
        }) { IsBackground = true };
        collector.Start();
        try
        {
            for (int i = 0; i < count; i++)
            {
                _ = new byte[1 + i % 512]; // churn gen 0 so live arrays move
                roundTrip(i);
            }
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
    }
}
