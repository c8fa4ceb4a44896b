using ILGPU;
using ILGPU.Runtime;

namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>
/// Host ↔ device copies and the backend's lock. Every host span is pinned for the whole ILGPU call: ILGPU 1.5.3 turns
/// the <c>ref</c> it is given into a raw pointer and allocates before copying, so a compacting GC in that window would
/// otherwise redirect the copy to the array's old address (seen as all-zero downloads and corrupted small uploads).
/// </summary>
public sealed partial class IlgpuBackend
{
    /// <summary>
    /// Serializes every public call: the stream, the kernels' launch state and the backend's reusable buffers (index
    /// upload, RoPE table, argmax result) are shared by every session of every model on this
    /// backend, and <c>LlamaModel</c> is thread-safe to share. All work goes to one in-order stream anyway, so the
    /// lock only orders host-side queueing; it is held across a download's wait so that no other thread's upload can
    /// overwrite a reusable buffer between a kernel and the copy that reads its result.
    /// </summary>
    private readonly Lock _gate = new();

    /// <summary>Enters the gate and makes the accelerator current on this thread (CUDA contexts are per thread).</summary>
    private Lock.Scope Enter()
    {
        var scope = _gate.EnterScope();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _accelerator.Bind();
            return scope;
        }
        catch
        {
            scope.Dispose();
            throw;
        }
    }

    /// <summary>Queues a copy of <paramref name="source"/> to the start of <paramref name="destination"/>, pinned.</summary>
    private unsafe void CopyToDevice<T>(ReadOnlySpan<T> source, ArrayView<T> destination) where T : unmanaged
    {
        if (source.IsEmpty) return;
        fixed (T* p = source)
        {
            destination.SubView(0, source.Length).CopyFromCPU(_stream, ref *p, source.Length);
            // A CUDA host-to-device copy from pageable memory returns once the data is staged, but the CPU
            // accelerator's may still read the pointer: wait before unpinning.
            if (!IsCuda) _stream.Synchronize();
            HostUploads++;
        }
    }

    /// <summary>Copies the start of <paramref name="source"/> into <paramref name="destination"/> and waits for it, pinned.</summary>
    private unsafe void CopyToHost<T>(ArrayView<T> source, Span<T> destination) where T : unmanaged
    {
        if (destination.IsEmpty) return;
        fixed (T* p = destination)
        {
            source.SubView(0, destination.Length).CopyToCPU(_stream, ref *p, destination.Length);
            _stream.Synchronize();
            HostSyncs++;
        }
    }

    /// <summary>
    /// Queues a device-to-device copy of the first min(lengths) elements of one float buffer into another: the device
    /// check's bandwidth ceiling (every byte read once and written once).
    /// </summary>
    internal void CopyOnDevice(DeviceBuffer source, DeviceBuffer destination)
    {
        using var _ = Enter();
        long n = Math.Min(source.Length, destination.Length);
        F(source).SubView(0, n).CopyTo(_stream, F(destination).SubView(0, n));
    }

    /// <summary>Kernel launches queued since the backend was made (for the device check's per-token counts).</summary>
    internal long KernelLaunches { get; private set; }

    /// <summary>Of <see cref="KernelLaunches"/>, the integer linears that ran on the tensor-core kernel (<see cref="IntMmaMinRows"/>).</summary>
    internal long IntMmaLaunches { get; private set; }

    /// <summary>Waits of the host for the device since the backend was made (downloads, argmax, Synchronize).</summary>
    internal long HostSyncs { get; private set; }

    /// <summary>
    /// Host-to-device copies since the backend was made (token ids, positions, weights). From pageable memory a CUDA
    /// copy returns only once the data is staged, so each one also stalls the host briefly.
    /// </summary>
    internal long HostUploads { get; private set; }
}
