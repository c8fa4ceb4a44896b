using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// How the AVX-512 integer kernel reads one group's weight scales from a block-scale array (<see cref="CpuMatrix.BlockScales"/>
/// as fp32, or <see cref="CpuMatrix.BlockHalfScales"/> as fp16 bits, same layout). A struct type parameter, so the JIT
/// compiles one tile per layout with the loads inlined: no branch or indirection per group.
/// </summary>
/// <remarks>
/// Every load gives the 16 lanes of a tile (lane p = r · C + c takes channel c's scale) as the same fp32 values either
/// way: fp16 → fp32 is exact, so both layouts multiply the same float in the same order and the results are bitwise equal.
/// </remarks>
internal unsafe interface IBlockScales
{
    /// <summary>Bytes per stored scale (4 or 2); pointers into the array step by this.</summary>
    static abstract int Bytes { get; }

    /// <summary>Scales of 16 consecutive channels at <paramref name="p"/>: lane c = channel c (one-row tiles).</summary>
    static abstract Vector512<float> Load16(byte* p);

    /// <summary>Scales of 8 consecutive channels, twice: lane r · 8 + c = channel c (two-row tiles).</summary>
    static abstract Vector512<float> Load8x2(byte* p);

    /// <summary>Scales of 4 consecutive channels, four times: lane r · 4 + c = channel c (four-row tiles).</summary>
    static abstract Vector512<float> Load4x4(byte* p);
}

/// <summary>fp32 scales (<see cref="CpuMatrix.BlockScales"/>): plain and broadcast loads.</summary>
internal unsafe struct FloatBlockScales : IBlockScales
{
    public static int Bytes => sizeof(float);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* p) => Vector512.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load8x2(byte* p) => Avx512F.BroadcastVector256ToVector512((double*)p).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load4x4(byte* p) => Avx512F.BroadcastVector128ToVector512((float*)p);
}

/// <summary>
/// fp16 scale bits (<see cref="CpuMatrix.BlockHalfScales"/>, only for matrices whose scales are all finite fp16 values):
/// 32, 16 or 8 bytes loaded (broadcast for the multi-row tiles) and converted by <see cref="HalfScales.ToSingle(Vector256{ushort})"/>.
/// At G = 32 the scales are a fifth of the bytes a weight row streams with fp32 scales, a ninth with these.
/// </summary>
internal unsafe struct HalfBlockScales : IBlockScales
{
    public static int Bytes => sizeof(ushort);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* p) => HalfScales.ToSingle(Vector256.Load((ushort*)p));

    /// <summary>vbroadcasti128: the 8 channels' 16 bytes in both 128-bit halves, so the conversion yields them twice.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load8x2(byte* p) => HalfScales.ToSingle(Avx2.BroadcastVector128ToVector256((ushort*)p));

    /// <summary>vpbroadcastq: the 4 channels' 8 bytes in all four 64-bit quarters.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load4x4(byte* p) => HalfScales.ToSingle(Vector256.Create(*(ulong*)p).AsUInt16());
}

/// <summary>
/// How the AVX2 integer tiles (<see cref="LinearIntAvx2Rows"/>) read the scales of their four channels from a tiled
/// scale array (<see cref="CpuMatrix.TiledScales"/> as fp32, or <see cref="CpuMatrix.TiledHalfScales"/> as fp16 bits,
/// same layout: group g of the tile's channel c at g · 4 + c). Either way the loads give the same fp32 values (fp16 →
/// fp32 is exact), so the results are bitwise equal; the fp16 form streams 2 bytes per scale instead of 4.
/// </summary>
internal unsafe interface ITileScales
{
    /// <summary>Bytes per stored scale (4 or 2); pointers into the array step by this.</summary>
    static abstract int Bytes { get; }

    /// <summary>One group's four channel scales at <paramref name="p"/>.</summary>
    static abstract Vector128<float> Load4(byte* p);

    /// <summary>Two consecutive groups' scales at <paramref name="p"/>: [group g's four | group g + 1's four] (G = 32 blocks).</summary>
    static abstract Vector256<float> Load8(byte* p);
}

/// <summary>fp32 tiled scales (<see cref="CpuMatrix.TiledScales"/>).</summary>
internal unsafe struct FloatTileScales : ITileScales
{
    public static int Bytes => sizeof(float);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load4(byte* p) => Vector128.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) => Vector256.Load((float*)p);
}

/// <summary>
/// fp16 tiled scale bits (<see cref="CpuMatrix.TiledHalfScales"/>, only for matrices whose scales are all finite fp16
/// values), converted by <see cref="HalfScales.ToSingle(Vector128{ushort})"/> (4 ops per 8 scales, one conversion per
/// block of a four-channel tile: 256 weights). At G = 32 a weight then streams 0.5625 bytes instead of 0.625.
/// </summary>
internal unsafe struct HalfTileScales : ITileScales
{
    public static int Bytes => sizeof(ushort);

    /// <summary>vmovq: the four channels' 8 bytes, converted in the low 128 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load4(byte* p) => HalfScales.ToSingleLow4(Vector128.CreateScalar(*(ulong*)p).AsUInt16());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) => HalfScales.ToSingle(Vector128.Load((ushort*)p));
}
