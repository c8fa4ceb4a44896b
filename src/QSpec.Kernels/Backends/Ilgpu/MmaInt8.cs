using ILGPU;
using ILGPU.Runtime.Cuda;
using static QSpec.Kernels.Backends.Ilgpu.DeviceMath;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// The warp-wide INT8 tensor-core product D[16, 8] = A[16, 32] · B[32, 8] + C (int32 accumulators, exact):
/// <c>mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32</c> on CUDA (sm_80 and later), and the same sums from warp
/// shuffles and <see cref="Dot4"/> elsewhere, so that the kernels built on it run, and are tested, on ILGPU's CPU
/// accelerator with a 32-lane warp.
/// </summary>
/// <remarks>
/// Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k32"), with lane = 4·gid + tig (gid = lane ≫ 2, tig = lane AND 3);
/// a register of A or B holds 4 signed bytes, byte i being consecutive k:
/// <list type="bullet">
/// <item>A (row-major): a0 = A[gid][4·tig + i], a1 = A[gid + 8][4·tig + i], a2 = A[gid][16 + 4·tig + i], a3 = A[gid + 8][16 + 4·tig + i].</item>
/// <item>B (column-major): b0 = B[4·tig + i][gid], b1 = B[16 + 4·tig + i][gid].</item>
/// <item>C and D: c0 = C[gid][2·tig], c1 = C[gid][2·tig + 1], c2 = C[gid + 8][2·tig], c3 = C[gid + 8][2·tig + 1].</item>
/// </list>
/// Every lane of the warp must call it together (uniform control flow): the instruction is warp-synchronous and the
/// emulation shuffles. The warp must have 32 lanes (<see cref="WarpSize"/>).
/// </remarks>
internal static class MmaInt8
{
    /// <summary>Lanes the fragment layout assumes.</summary>
    public const int WarpSize = 32;

    /// <summary>(c0, c1, c2, c3) += this lane's part of A · B (see the remarks for the fragments).</summary>
    public static void M16N8K32(ref int c0, ref int c1, ref int c2, ref int c3, int a0, int a1, int a2, int a3, int b0, int b1)
    {
        if (CudaAsm.IsSupported)
        {
            Ref<int> d0 = c0, d1 = c1, d2 = c2, d3 = c3;
            Input<int> x0 = a0, x1 = a1, x2 = a2, x3 = a3, y0 = b0, y1 = b1;
            CudaAsm.EmitRef("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};",
                            ref d0, ref d1, ref d2, ref d3, ref x0, ref x1, ref x2, ref x3, ref y0, ref y1);
            (c0, c1, c2, c3) = (d0.Value, d1.Value, d2.Value, d3.Value);
            return;
        }
        Emulate(ref c0, ref c1, ref c2, ref c3, a0, a1, a2, a3, b0, b1);
    }

    /// <summary>
    /// The same sums by shuffles: D[r][n] needs A's row r (lanes 4·(r mod 8) + t, registers a0/a2 or a1/a3) and B's
    /// column n (lanes 4·n + t, b0 and b1) for t = 0..3. Integer sums are exact, so the order does not matter.
    /// </summary>
    private static void Emulate(ref int c0, ref int c1, ref int c2, ref int c3, int a0, int a1, int a2, int a3, int b0, int b1)
    {
        int lane = Warp.LaneIdx, gid = lane >> 2, tig = lane & 3;
        for (int t = 0; t < 4; t++)
        {
            int rowLane = 4 * gid + t, even = 4 * (2 * tig) + t, odd = 4 * (2 * tig + 1) + t;
            // A's rows gid (a0, a2) and gid + 8 (a1, a3), columns 4t..4t+3 and 16+4t..16+4t+3.
            int top = Warp.Shuffle(a0, rowLane), topHigh = Warp.Shuffle(a2, rowLane);
            int bottom = Warp.Shuffle(a1, rowLane), bottomHigh = Warp.Shuffle(a3, rowLane);
            // B's columns 2·tig and 2·tig + 1, the same k.
            int left = Warp.Shuffle(b0, even), leftHigh = Warp.Shuffle(b1, even);
            int right = Warp.Shuffle(b0, odd), rightHigh = Warp.Shuffle(b1, odd);
            c0 = Dot4(topHigh, leftHigh, Dot4(top, left, c0));
            c1 = Dot4(topHigh, rightHigh, Dot4(top, right, c1));
            c2 = Dot4(bottomHigh, leftHigh, Dot4(bottom, left, c2));
            c3 = Dot4(bottomHigh, rightHigh, Dot4(bottom, right, c3));
        }
    }
}
