using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Kernels.Formats;

namespace QSpec.Benchmarks;

/// <summary>
/// `w4a16avx2ab [threads=2] [groups=32] [hot]`: the AVX2 in-place-nibble W4A16 kernel (<see cref="LinearW4A16Avx2"/>, with its
/// activation permutation; dequantization by shift + and + or, and by vpshufb, <see cref="ShiftNibbles"/> / <see cref="ShuffleNibbles"/>)
/// against the previous AVX2 kernel (vpmovzxbd, shift, and, cvtdq2ps, FMA per 8 weights, kept below as it was in
/// LinearFloat's W4A16Job) on the TinyLlama-1.1B shapes, G in a comma list (0 = per channel), M = 1, 2, 4, 8. All three
/// run on one <see cref="CpuWorkerPool"/> and alternate batch by batch, so they see the same machine load; each prints
/// its best-of-21 µs, and the row its ratios, xM1 (time / time at M = 1) and the new kernel's share of the stream read
/// (weights + fp32 scales). Weights cycle through 96 MiB of copies (read from memory, like a forward pass) or, with
/// `hot`, one copy (from cache: the compute bound). The two new variants' outputs are checked bit for bit against each other.
/// </summary>
public static unsafe class W4A16Avx2Ab
{
    public static void Run(TextWriter o, int threads, int[] groupSizes, bool hot)
    {
        using var pool = new CpuWorkerPool(threads);
        double streamGBs = Roofline.StreamGBs(threads);
        o.WriteLine($"W4A16 AVX2 A/B, {threads} threads, stream read {streamGBs:F1} GB/s, weights {(hot ? "hot (one copy)" : "cold (96 MiB of copies)")}: best us of 21 alternating batches");
        o.WriteLine("old = vpmovzxbd/cvtdq2ps kernel, new = LinearW4A16Avx2 (shift+and+or), shuf = LinearW4A16Avx2 (vpshufb+or)");
        o.WriteLine($"{"shape",-11} {"G",3} {"M",2} {"old us",8} {"new us",8} {"shuf us",8} {"new/old",7} {"shuf/new",8} {"old xM1",7} {"new xM1",7} {"new %bw",7}");
        foreach (int g in groupSizes)
            foreach (var (_, n, k) in Roofline.TinyLlamaShapes)
            {
                double old1 = 0, new1 = 0;
                var rng = new Random(7);
                var ws = LinearCase.RandomCopies(n, k, g, hot, rng);
                var w0 = ws[0];
                int copies = ws.Length;
                foreach (int m in Roofline.Rows)
                {
                    var x = new float[m * k];
                    for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
                    float[] yOld = new float[m * n], yNew = new float[m * n], yShuf = new float[m * n];
                    int next = 0;
                    var t = Alternate(
                        [() => Old(pool, threads, x, m, ws[next], yOld), () => New<ShiftNibbles>(pool, threads, x, m, ws[next], yNew),
                         () => New<ShuffleNibbles>(pool, threads, x, m, ws[next], yShuf)],
                        () => next = (next + 1) % copies);
                    if (!yNew.AsSpan().SequenceEqual(yShuf)) o.WriteLine("  !! shift and shuffle variants differ");
                    if (m == 1) { old1 = t[0]; new1 = t[1]; }
                    double bytes = w0.SizeInBytes;
                    o.WriteLine($"{n + "x" + k,-11} {g,3} {m,2} {t[0],8:F1} {t[1],8:F1} {t[2],8:F1} {t[1] / t[0],7:F2} {t[2] / t[1],8:F2} {t[0] / old1,7:F2} {t[1] / new1,7:F2} {100 * bytes / t[1] / 1e3 / streamGBs,7:F0}");
                }
            }
    }

    /// <summary>Best µs per call of each action over 21 rounds of ~1 ms batches, the actions in turn (reversed on odd rounds);
    /// <paramref name="step"/> runs after every call.</summary>
    /// <remarks>First every action runs at least 60 times and for at least 300 ms in all: tiered JIT compiles a method at
    /// tier 0, promotes it after 30 calls and compiles tier 1 in the background after a 100 ms quiet spell, so with a few
    /// warm-up calls the first shape's rows timed tier-0 code (the halfab table's first rows were 1.5-3x slow).</remarks>
    internal static double[] Alternate(Action[] actions, Action step)
    {
        var warm = Stopwatch.StartNew();
        for (int calls = 0; calls < 60 || warm.Elapsed.TotalMilliseconds < 300; calls++)
            foreach (var a in actions) { a(); step(); }
        var sw = Stopwatch.StartNew();
        int reps = 0;
        while (sw.Elapsed.TotalMilliseconds < 1) { actions[0](); step(); reps++; }
        var best = new double[actions.Length];
        Array.Fill(best, double.MaxValue);
        for (int round = 0; round < 21; round++)
            for (int q = 0; q < actions.Length; q++)
            {
                int i = round % 2 == 0 ? q : actions.Length - 1 - q;
                sw.Restart();
                for (int r = 0; r < reps; r++) { actions[i](); step(); }
                best[i] = Math.Min(best[i], sw.Elapsed.TotalMicroseconds / reps);
            }
        return best;
    }

    private static void New<TD>(CpuWorkerPool pool, int threads, float[] x, int rows, Int4Matrix w, float[] y) where TD : struct, INibbles256
    {
        var (xn, off, xs) = LinearW4A16Avx2Activations.Permute(x, rows, w.Columns, new GroupIndex(w).BlockShift < 0);
        Kernel<TD>(pool, threads, xn, off, xs, rows, w, y);
    }

    /// <summary>The library kernel over permuted activations (buffer, offset, stride), split over channels on the pool.</summary>
    internal static void Kernel<TD>(CpuWorkerPool pool, int threads, float[] xn, int off, int xs, int rows, Int4Matrix w, float[] y) where TD : struct, INibbles256
    {
        var groups = new GroupIndex(w);
        bool split = groups.BlockShift < 0;
        pool.For(w.Rows, threads, LinearW4A16Avx2.ChannelBlock, (start, end) =>
        {
            var acc = stackalloc Vector256<float>[LinearW4A16Avx2.AccumulatorCount(rows)];
            fixed (byte* wd = w.Data)
            fixed (float* sc = w.Scales, xp = xn, yp = y)
            {
                if (split) LinearW4A16Avx2.Run<SplitGroups, TD>(wd, sc, null, null, w.RowBytes, w.GroupCount, groups, w.Rows, start, end, rows, xp + off, xs, yp, acc);
                else LinearW4A16Avx2.Run<BlockGroups, TD>(wd, sc, null, null, w.RowBytes, w.GroupCount, groups, w.Rows, start, end, rows, xp + off, xs, yp, acc);
            }
        });
    }

    [ThreadStatic] private static float[]? t_padded;

    /// <summary>The previous AVX2 W4A16 path: X zero-padded to whole blocks; per channel, rows in tiles of 2 dequantizing
    /// in registers, or (M &gt; 2) the row dequantized once into an L1 buffer.</summary>
    private static void Old(CpuWorkerPool pool, int threads, float[] x, int rows, Int4Matrix w, float[] y)
    {
        int k = w.Columns, kp = w.PaddedColumns;
        var padded = t_padded;
        if (padded is null || padded.Length < rows * kp + 16) t_padded = padded = GC.AllocateUninitializedArray<float>(rows * kp + 16, pinned: true);
        int offset;
        fixed (float* p = padded) offset = (int)((64 - ((nint)p & 63)) & 63) / sizeof(float);
        for (int m = 0; m < rows; m++)
        {
            x.AsSpan(m * k, k).CopyTo(padded.AsSpan(offset + m * kp, k));
            padded.AsSpan(offset + m * kp + k, kp - k).Clear();
        }
        var groups = new GroupIndex(w);
        pool.For(w.Rows, threads, 1, (start, end) =>
        {
            bool buffered = rows > 2;
            float[]? buf = buffered ? ArrayPool<float>.Shared.Rent(kp + 16) : null;
            fixed (byte* wd = w.Data)
            fixed (float* sc = w.Scales, x0 = padded, yp = y, bp = buf)
            {
                float* xq = x0 + offset;
                float* row = bp == null ? null : (float*)(((nint)bp + 63) & ~(nint)63);
                for (int j = start; j < end; j++)
                {
                    var src = new OldPackedSource(wd + (long)j * w.RowBytes, sc + (long)j * w.GroupCount, groups, w.RowBytes);
                    if (!buffered) { LinearFloatAvx2.Rows(ref src, rows, kp / 32, xq, kp, yp + j, w.Rows); continue; }
                    for (int h = 0; h < kp / 32; h++)
                    {
                        src.Load(h, out var a0, out var a1, out var a2, out var a3);
                        float* d = row + 32 * h;
                        a0.Store(d); a1.Store(d + 8); a2.Store(d + 16); a3.Store(d + 24);
                    }
                    var bs = new OldBufferSource(row);
                    LinearFloatAvx2.Rows(ref bs, rows, kp / 32, xq, kp, yp + j, w.Rows);
                }
            }
            if (buf != null) ArrayPool<float>.Shared.Return(buf);
        });
    }

    /// <summary>The previous on-the-fly dequantization: w = fma(u, s, −8s) per 8 weights after vpmovzxbd, shift, and, cvtdq2ps.</summary>
    private readonly struct OldPackedSource(byte* row, float* scales, GroupIndex groups, int rowBytes) : IHalfSource256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Load(int half, out Vector256<float> w0, out Vector256<float> w1, out Vector256<float> w2, out Vector256<float> w3)
        {
            float s = scales[groups.OfHalf(half)];
            var scale = Vector256.Create(s);
            var offset = Vector256.Create(-8f * s);
            var mask = Vector256.Create(15);
            int shift = 4 * (half & 1);
            byte* p = row + 32 * (half >> 1);
            Sse.Prefetch1(p + rowBytes);
            w0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single((Avx2.ConvertToVector256Int32(p) >>> shift) & mask), scale, offset);
            w1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single((Avx2.ConvertToVector256Int32(p + 8) >>> shift) & mask), scale, offset);
            w2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single((Avx2.ConvertToVector256Int32(p + 16) >>> shift) & mask), scale, offset);
            w3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single((Avx2.ConvertToVector256Int32(p + 24) >>> shift) & mask), scale, offset);
        }
    }

    private readonly struct OldBufferSource(float* row) : IHalfSource256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Load(int half, out Vector256<float> w0, out Vector256<float> w1, out Vector256<float> w2, out Vector256<float> w3)
        {
            float* p = row + 32 * half;
            w0 = Vector256.Load(p); w1 = Vector256.Load(p + 8); w2 = Vector256.Load(p + 16); w3 = Vector256.Load(p + 24);
        }
    }
}

/// <summary>
/// Shuffle form: once per block even = (d ≪ 3) AND 0x78787878 and odd = (d ≫ 1) AND 0x78787878 put every byte's low
/// (high) nibble on bits 3..6; then nibble 2j (2j + 1) is vpshufb moving byte j of each dword to byte 2 (bits 19..22,
/// other bytes zeroed), OR 0x3F800000: 2 ops per 8 weights + 4 per block. The same floats as <see cref="ShiftNibbles"/>; kept
/// here for the A/B only (it measured no faster: equal at M = 1, 9-38 % slower at M ≥ 2 in the two-channel tiles).
/// </summary>
internal struct ShuffleNibbles : INibbles256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prepare(Vector256<uint> d, out Vector256<uint> even, out Vector256<uint> odd)
    {
        var m = Vector256.Create(0x78787878u);
        even = Avx2.ShiftLeftLogical(d, 3) & m;
        odd = Avx2.ShiftRightLogical(d, 1) & m;
    }

    /// <summary>vpshufb control moving byte j of every dword to byte 2 (index 4·(l mod 4) + j within the 128-bit lane) and zeroing the others.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Control(int j) => j switch
    {
        0 => Vector256.Create(0x80008080u, 0x80048080u, 0x80088080u, 0x800C8080u, 0x80008080u, 0x80048080u, 0x80088080u, 0x800C8080u),
        1 => Vector256.Create(0x80018080u, 0x80058080u, 0x80098080u, 0x800D8080u, 0x80018080u, 0x80058080u, 0x80098080u, 0x800D8080u),
        2 => Vector256.Create(0x80028080u, 0x80068080u, 0x800A8080u, 0x800E8080u, 0x80028080u, 0x80068080u, 0x800A8080u, 0x800E8080u),
        _ => Vector256.Create(0x80038080u, 0x80078080u, 0x800B8080u, 0x800F8080u, 0x80038080u, 0x80078080u, 0x800B8080u, 0x800F8080u),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> F(Vector256<uint> v, int j) =>
        (Avx2.Shuffle(v.AsByte(), Control(j).AsByte()).AsUInt32() | Vector256.Create(0x3F800000u)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble0(Vector256<uint> d, Vector256<uint> e) => F(e, 0);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble1(Vector256<uint> d, Vector256<uint> o) => F(o, 0);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble2(Vector256<uint> d, Vector256<uint> e) => F(e, 1);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble3(Vector256<uint> d, Vector256<uint> o) => F(o, 1);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble4(Vector256<uint> d, Vector256<uint> e) => F(e, 2);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble5(Vector256<uint> d, Vector256<uint> o) => F(o, 2);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble6(Vector256<uint> d, Vector256<uint> e) => F(e, 3);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Nibble7(Vector256<uint> d, Vector256<uint> o) => F(o, 3);
}
