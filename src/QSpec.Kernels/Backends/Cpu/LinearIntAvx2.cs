using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>acc + Σ over each 4 adjacent bytes of u·a, u unsigned (nibbles 0..15), a signed: the one op the two integer paths differ in.</summary>
internal interface IByteDot
{
    static abstract Vector256<int> Dot(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> a);

    /// <summary>Two chunks at once: acc + Σ u0·a0 + Σ u1·a1.</summary>
    static abstract Vector256<int> Dot2(Vector256<int> acc, Vector256<byte> u0, Vector256<sbyte> a0, Vector256<byte> u1, Vector256<sbyte> a1);

    /// <summary>
    /// Two channels' dots with one chunk of one row, paired as vphaddd pairs them: per 128-bit half
    /// [Σu·a of 8 bytes (u = <paramref name="u0"/>) ×2, the same for <paramref name="u1"/> ×2] (<see cref="LinearIntAvx2Rows"/>).
    /// </summary>
    static abstract Vector256<int> Pair(Vector256<byte> u0, Vector256<byte> u1, Vector256<sbyte> a);

    /// <summary><see cref="Pair"/> over a whole block: low nibbles l with chunk a0, high nibbles h with chunk a1.</summary>
    static abstract Vector256<int> Pair2(Vector256<byte> l0, Vector256<byte> h0, Vector256<byte> l1, Vector256<byte> h1,
                                         Vector256<sbyte> a0, Vector256<sbyte> a1);
}

/// <summary>AVX2: vpmaddubsw (pairs into int16; |u·a| ≤ 15·127, so a pair cannot saturate) then vpmaddwd by ones.</summary>
internal struct MaddubsDot : IByteDot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> a)
        => acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, a), Vector256.Create((short)1));

    /// <summary>The two int16 pair sums are added before widening: |sum| ≤ 2·2·15·127 = 7620 fits int16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot2(Vector256<int> acc, Vector256<byte> u0, Vector256<sbyte> a0, Vector256<byte> u1, Vector256<sbyte> a1)
        => acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u0, a0) + Avx2.MultiplyAddAdjacent(u1, a1), Vector256.Create((short)1));

    /// <summary>
    /// vphaddw of the two int16 pair sums, then one vpmaddwd by ones: the layout of vphaddd(vpmaddwd(p0), vpmaddwd(p1))
    /// with one multiply fewer. |pair sum| ≤ 2·15·127 = 3810, so the int16 sums of two stay ≤ 7620.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Pair(Vector256<byte> u0, Vector256<byte> u1, Vector256<sbyte> a)
        => Avx2.MultiplyAddAdjacent(Avx2.HorizontalAdd(Avx2.MultiplyAddAdjacent(u0, a), Avx2.MultiplyAddAdjacent(u1, a)), Vector256.Create((short)1));

    /// <summary>As <see cref="Pair"/>; each channel's two chunks add in int16 first (≤ 7620), the vphaddw sums of those ≤ 15240.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Pair2(Vector256<byte> l0, Vector256<byte> h0, Vector256<byte> l1, Vector256<byte> h1,
                                       Vector256<sbyte> a0, Vector256<sbyte> a1)
        => Avx2.MultiplyAddAdjacent(Avx2.HorizontalAdd(Avx2.MultiplyAddAdjacent(l0, a0) + Avx2.MultiplyAddAdjacent(h0, a1),
                                                       Avx2.MultiplyAddAdjacent(l1, a0) + Avx2.MultiplyAddAdjacent(h1, a1)), Vector256.Create((short)1));
}

/// <summary>AVX-VNNI: one vpdpbusd.</summary>
internal struct VnniDot : IByteDot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> a)
        => AvxVnni.MultiplyWideningAndAdd(acc, u, a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot2(Vector256<int> acc, Vector256<byte> u0, Vector256<sbyte> a0, Vector256<byte> u1, Vector256<sbyte> a1)
        => AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(acc, u0, a0), u1, a1);

    /// <summary>Two vpdpbusd, paired by vphaddd.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Pair(Vector256<byte> u0, Vector256<byte> u1, Vector256<sbyte> a)
        => Avx2.HorizontalAdd(Dot(Vector256<int>.Zero, u0, a), Dot(Vector256<int>.Zero, u1, a));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Pair2(Vector256<byte> l0, Vector256<byte> h0, Vector256<byte> l1, Vector256<byte> h1,
                                       Vector256<sbyte> a0, Vector256<sbyte> a1)
        => Avx2.HorizontalAdd(Dot2(Vector256<int>.Zero, l0, a0, h0, a1), Dot2(Vector256<int>.Zero, l1, a0, h1, a1));
}

/// <summary>
/// Integer linear kernel (W4A4 / W4A8) for a tile of four output channels and one activation row. Per group the four
/// int32 dots Σ u·a come from 32-column chunks (the low or high nibbles of a block), are reduced by vphaddd into one
/// vector [d0..d3], corrected by −8·Σa, and folded as acc = acc + (float)d · s_w lane by lane in ascending group
/// order (a separate multiply and add, no FMA), then multiplied by s_a: exactly the float order of the reference.
/// </summary>
internal static unsafe class LinearIntAvx2
{
    /// <summary>Parameters shared by every tile of one call.</summary>
    public readonly struct Shape(int groupCount, int groupChunks, int chunks, int ahead)
    {
        /// <summary>Bytes from a row to the same row of the next tile (4 rows on), the prefetch distance.</summary>
        public readonly int Ahead = ahead;
        /// <summary>Scale groups per row.</summary>
        public readonly int GroupCount = groupCount;
        /// <summary>32-column chunks per group (G / 32, or all chunks for per-channel scales).</summary>
        public readonly int GroupChunks = groupChunks;
        /// <summary>Chunks holding real columns: ceil(K / 32).</summary>
        public readonly int Chunks = chunks;
    }

    /// <summary>
    /// y[c] = result for channel c &lt; <paramref name="valid"/> of the tile whose packed rows start at w0..w3 and whose
    /// scales are <paramref name="scales"/>[g·4 + c]; <paramref name="a"/> and <paramref name="sums"/> are one activation row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TDot>(byte* w0, byte* w1, byte* w2, byte* w3, float* scales, in Shape shape,
                                  sbyte* a, int* sums, float activationScale, float* y, int valid) where TDot : struct, IByteDot
    {
        var low = Vector256.Create((byte)0x0F);
        var acc = Vector128<float>.Zero;
        for (int g = 0; g < shape.GroupCount; g++)
        {
            Vector256<int> p0 = default, p1 = default, p2 = default, p3 = default;
            int c = g * shape.GroupChunks, end = Math.Min(shape.Chunks, c + shape.GroupChunks), asum = 0;
            while (c < end)
            {
                int offset = 16 * c & ~31; // block c / 2 starts at byte 32 · (c / 2)
                // The next tile's four rows, same block, into L2: several interleaved row streams defeat the hardware prefetcher.
                Sse.Prefetch1(w0 + offset + shape.Ahead); Sse.Prefetch1(w1 + offset + shape.Ahead);
                Sse.Prefetch1(w2 + offset + shape.Ahead); Sse.Prefetch1(w3 + offset + shape.Ahead);
                var v0 = Vector256.Load(w0 + offset); var v1 = Vector256.Load(w1 + offset);
                var v2 = Vector256.Load(w2 + offset); var v3 = Vector256.Load(w3 + offset);
                var x = Vector256.Load(a + 32 * c);
                asum += sums[c];
                if ((c & 1) == 0 && c + 1 < end)
                {
                    // A whole block in this group: low nibbles with chunk c, high nibbles with chunk c + 1.
                    var x1 = Vector256.Load(a + 32 * c + 32);
                    asum += sums[c + 1];
                    p0 = TDot.Dot2(p0, v0 & low, x, High(v0) & low, x1); p1 = TDot.Dot2(p1, v1 & low, x, High(v1) & low, x1);
                    p2 = TDot.Dot2(p2, v2 & low, x, High(v2) & low, x1); p3 = TDot.Dot2(p3, v3 & low, x, High(v3) & low, x1);
                    c += 2;
                }
                else if ((c & 1) == 0)
                {
                    p0 = TDot.Dot(p0, v0 & low, x); p1 = TDot.Dot(p1, v1 & low, x);
                    p2 = TDot.Dot(p2, v2 & low, x); p3 = TDot.Dot(p3, v3 & low, x);
                    c++;
                }
                else
                {
                    p0 = TDot.Dot(p0, High(v0) & low, x); p1 = TDot.Dot(p1, High(v1) & low, x);
                    p2 = TDot.Dot(p2, High(v2) & low, x); p3 = TDot.Dot(p3, High(v3) & low, x);
                    c++;
                }
            }
            var h = Avx2.HorizontalAdd(Avx2.HorizontalAdd(p0, p1), Avx2.HorizontalAdd(p2, p3));
            var d = h.GetLower() + h.GetUpper() - Vector128.Create(8 * asum);
            acc = acc + Vector128.ConvertToSingle(d) * Vector128.Load(scales + 4 * g);
        }
        acc *= Vector128.Create(activationScale);
        for (int i = 0; i < valid; i++) y[i] = acc.GetElement(i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> High(Vector256<byte> v) => (v.AsUInt16() >>> 4).AsByte();
}
