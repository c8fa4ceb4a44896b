using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;

namespace QSpec.Benchmarks;

/// <summary>
/// `halfab [threads] [groups] [hot]`: the W4A16 linear through <see cref="CpuBackend"/> with fp16 scales
/// (<see cref="CpuBackendOptions.HalfPrecisionScalesW4A16"/>) against fp32 scales, on the TinyLlama-1.1B shapes, G in a comma
/// list (default 32), M = 1, 2, 4, 8. The scales are fp16 values, so both give the same bits; the two backends share the
/// weight copies and alternate batch by batch (<see cref="W4A16Ab.Alternate"/>). Prints best µs, the bytes each reads
/// (weights + 2- or 4-byte scales) as GB/s and % of the stream read measured first, and the time ratio fp16/fp32.
/// </summary>
public static class HalfScaleAb
{
    public static void Run(TextWriter o, int threads, int[] groupSizes, bool hot)
    {
        double streamGBs = Roofline.StreamGBs(threads);
        var options = (bool half) => new CpuBackendOptions { MaxThreads = threads, HalfPrecisionScalesW4A16 = half };
        using var halfBackend = new CpuBackend(options(true));
        using var fullBackend = new CpuBackend(options(false));
        o.WriteLine($"W4A16 fp16 vs fp32 scales, {threads} threads, stream read {streamGBs:F1} GB/s, weights {(hot ? "hot (one copy)" : "cold (96 MiB of copies)")}");
        o.WriteLine($"{"shape",-11} {"G",3} {"M",2} {"fp16 us",8} {"GB/s",6} {"%bw",4} {"fp32 us",8} {"GB/s",6} {"%bw",4} {"fp16/fp32",9}");
        foreach (int g in groupSizes)
            foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
            {
                var w0 = Int4Matrix.CreateZero(n, k, g);
                new Random(n ^ k).NextBytes(w0.Data);
                var rng = new Random(7);
                for (int i = 0; i < w0.Scales.Length; i++) w0.Scales[i] = (float)(Half)(0.005f + 0.01f * (float)rng.NextDouble());
                int copies = hot ? 1 : (int)Math.Max(1, (LinearCase.ColdBytes + w0.SizeInBytes - 1) / w0.SizeInBytes);
                var halfMatrices = new DeviceMatrix[copies];
                var fullMatrices = new DeviceMatrix[copies];
                for (int i = 0; i < copies; i++)
                {
                    var w = w0;
                    if (i > 0)
                    {
                        w = new Int4Matrix(n, k, g, GC.AllocateArray<byte>(w0.Data.Length, pinned: true), (float[])w0.Scales.Clone());
                        w0.Data.CopyTo(w.Data, 0);
                    }
                    halfMatrices[i] = halfBackend.CreateMatrix(w, null, n, k);
                    fullMatrices[i] = fullBackend.CreateMatrix(w, null, n, k);
                }
                long nibbles = (long)n * w0.PaddedColumns / 2, scaleCount = (long)n * w0.GroupCount;
                double halfBytes = nibbles + 2 * scaleCount, fullBytes = nibbles + 4 * scaleCount;
                foreach (int m in Roofline.Rows)
                {
                    var xh = new float[m * k];
                    for (int i = 0; i < xh.Length; i++) xh[i] = (float)(rng.NextDouble() * 2 - 1);
                    using var xHalf = halfBackend.Allocate(m * k);
                    using var xFull = fullBackend.Allocate(m * k);
                    halfBackend.Upload(xh, xHalf);
                    fullBackend.Upload(xh, xFull);
                    using var yHalf = halfBackend.Allocate(m * n);
                    using var yFull = fullBackend.Allocate(m * n);
                    int next = 0;
                    var (tHalf, tFull) = W4A16Ab.Alternate(
                        () => halfBackend.LinearW4A16(xHalf, halfMatrices[next], yHalf, m),
                        () => fullBackend.LinearW4A16(xFull, fullMatrices[next], yFull, m),
                        () => next = (next + 1) % copies);
                    o.WriteLine($"{n + "x" + k,-11} {g,3} {m,2} {tHalf,8:F1} {halfBytes / tHalf / 1e3,6:F1} {100 * halfBytes / tHalf / 1e3 / streamGBs,4:F0} " +
                                $"{tFull,8:F1} {fullBytes / tFull / 1e3,6:F1} {100 * fullBytes / tFull / 1e3 / streamGBs,4:F0} {tHalf / tFull,9:F2}");
                }
                foreach (var d in halfMatrices) d.Dispose();
                foreach (var d in fullMatrices) d.Dispose();
            }
    }
}
