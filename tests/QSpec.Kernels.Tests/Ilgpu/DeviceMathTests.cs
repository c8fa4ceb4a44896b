using QSpec.Kernels.Backends.Ilgpu;

namespace QSpec.Kernels.Tests.Ilgpu;

/// <summary>The non-CUDA paths of the device helpers (the CUDA paths are inline PTX, checked in PtxCompileTests).</summary>
public sealed class DeviceMathTests
{
    [Fact]
    public void Dot4_Fallback_MultipliesSignedBytes()
    {
        // a bytes (LSB first): 1, 127, -1, -128; b bytes: -127, -128, -1, 2.
        int a = unchecked((int)0x80FF7F01), b = unchecked((int)0x02FF8081);
        Assert.Equal(5 + 1 * -127 + 127 * -128 + -1 * -1 + -128 * 2, DeviceMath.Dot4(a, b, 5));
    }

    [Fact]
    public void NibblesToSignedBytes_MapsEveryNibble()
    {
        for (uint u = 0; u < 16; u++)
        {
            uint packed = u | ((15 - u) << 8) | (u << 16) | (8u << 24);
            int q = DeviceMath.NibblesToSignedBytes(packed);
            Assert.Equal((int)u - 8, (sbyte)q);
            Assert.Equal(7 - (int)u, (sbyte)(q >> 8));
            Assert.Equal((int)u - 8, (sbyte)(q >> 16));
            Assert.Equal(0, (sbyte)(q >> 24));
        }
    }
}
