namespace QSpec.Kernels.Backends.Ilgpu;

/// <summary>A device allocation failed because the accelerator is out of memory.</summary>
public sealed class DeviceOutOfMemoryException : InvalidOperationException
{
    /// <summary>Creates the exception for a failed request of <paramref name="requestedBytes"/> on <paramref name="device"/>.</summary>
    public DeviceOutOfMemoryException(string device, long requestedBytes, long deviceBytes, Exception? inner = null)
        : base($"Out of device memory on {device}: could not allocate {requestedBytes:N0} bytes " +
               $"(device memory {deviceBytes:N0} bytes). Free buffers, use a smaller model, or use the CPU backend.", inner)
    {
        RequestedBytes = requestedBytes;
        DeviceBytes = deviceBytes;
    }

    /// <summary>Bytes requested by the failed allocation.</summary>
    public long RequestedBytes { get; }
    /// <summary>Total memory of the device.</summary>
    public long DeviceBytes { get; }
}
