using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;
using ILGPU.Runtime.Cuda;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Device-side helpers shared by the kernels: warp reductions, IEEE-exact float products, dp4a.
/// Every method runs both inside ILGPU kernels (CUDA or the CPU accelerator) and on the host.
/// </summary>
internal static class DeviceMath
{
    /// <summary>Sum over the warp; every lane gets the result. Butterfly order is fixed for a given warp size.</summary>
    public static float WarpSum(float value) => WarpExtensions.AllReduce<float, AddFloat>(value);

    /// <summary>Maximum over the warp; every lane gets the result.</summary>
    public static float WarpMax(float value) => WarpExtensions.AllReduce<float, MaxFloat>(value);

    /// <summary>Integer sum over the warp (exact in any order).</summary>
    public static int WarpSumInt(int value) => WarpExtensions.AllReduce<int, AddInt32>(value);

    /// <summary>
    /// a · b rounded once. On CUDA it is emitted as <c>mul.rn.f32</c>: the .rn modifier forbids ptxas from fusing
    /// the product into a following add (FMA contraction), so results match the scalar references bit for bit.
    /// </summary>
    public static float Mul(float a, float b)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mul.rn.f32 %0, %1, %2;", out float r, a, b);
            return r;
        }
        return a * b;
    }

    /// <summary>a + b rounded once (<c>add.rn.f32</c> on CUDA, see <see cref="Mul"/>).</summary>
    public static float Add(float a, float b)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("add.rn.f32 %0, %1, %2;", out float r, a, b);
            return r;
        }
        return a + b;
    }

    /// <summary>
    /// Round half to even, as MathF.Round: <c>cvt.rni.f32.f32</c> on CUDA (ILGPU would otherwise lower MathF.Round to a
    /// software routine), MathF.Round elsewhere.
    /// </summary>
    public static float RoundEven(float value)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("cvt.rni.f32.f32 %0, %1;", out float r, value);
            return r;
        }
        return MathF.Round(value);
    }

    /// <summary>
    /// c + Σ_i a.byte[i] · b.byte[i] over the four signed bytes of a and b: one <c>dp4a.s32.s32</c> on CUDA,
    /// four multiply-adds elsewhere (same exact integer result).
    /// </summary>
    public static int Dot4(int a, int b, int c)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("dp4a.s32.s32 %0, %1, %2, %3;", out int r, a, b, c);
            return r;
        }
        return c + (sbyte)a * (sbyte)b + (sbyte)(a >> 8) * (sbyte)(b >> 8)
                 + (sbyte)(a >> 16) * (sbyte)(b >> 16) + (sbyte)(a >> 24) * (sbyte)(b >> 24);
    }

    /// <summary>
    /// Four offset-binary nibbles u = q + 8 (one per byte, bits 0..3) to four signed bytes q in [-8, 7]:
    /// u ^ 8 is q in 4-bit two's complement; its sign bit (bit 3) times 30 sets bits 4..7 without carries.
    /// </summary>
    public static int NibblesToSignedBytes(uint nibbles)
    {
        uint t = nibbles ^ 0x08080808u;
        uint sign = t & 0x08080808u;
        return (int)(t | (sign * 30u));
    }

    /// <summary>The low nibbles of a packed word (columns 4j..4j+3 of a block).</summary>
    public const uint LowNibbles = 0x0F0F0F0Fu;
}
