using System.Runtime.InteropServices;

namespace QSpec.Kernels.Tests;

/// <summary>
/// Reads and writes the calling thread's MXCSR (x86-64 Linux only), to test kernels on a thread with DAZ set, as native
/// code in a host process may leave it. .NET has no API for it, so two 4-byte thunks (stmxcsr/ldmxcsr [rdi]; ret) are
/// written to a page mapped executable.
/// </summary>
internal static unsafe class Mxcsr
{
    /// <summary>MXCSR bit 6: denormals are zero (operands).</summary>
    public const uint DenormalsAreZero = 1u << 6;

    private static readonly delegate* unmanaged<uint*, void> s_load, s_store;

    static Mxcsr()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return;
        const int ProtRead = 1, ProtWrite = 2, ProtExec = 4, MapPrivate = 2, MapAnonymous = 0x20;
        byte* page = (byte*)mmap(null, 4096, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if ((nint)page == -1) return;
        ReadOnlySpan<byte> code = [0x0F, 0xAE, 0x1F, 0xC3, 0x0F, 0xAE, 0x17, 0xC3]; // stmxcsr [rdi]; ret | ldmxcsr [rdi]; ret
        code.CopyTo(new Span<byte>(page, code.Length));
        if (mprotect(page, 4096, ProtRead | ProtExec) != 0) return;
        s_store = (delegate* unmanaged<uint*, void>)page;
        s_load = (delegate* unmanaged<uint*, void>)(page + 4);
    }

    /// <summary>Whether this process can read and write MXCSR (x86-64 Linux).</summary>
    public static bool Available => s_load != null;

    /// <summary>The calling thread's MXCSR.</summary>
    public static uint Get() { uint v; s_store(&v); return v; }

    /// <summary>Sets the calling thread's MXCSR.</summary>
    public static void Set(uint value) => s_load(&value);

    [DllImport("libc", SetLastError = true)] private static extern void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);
    [DllImport("libc", SetLastError = true)] private static extern int mprotect(void* addr, nuint length, int prot);
}
