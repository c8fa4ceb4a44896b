namespace QSpec.Kernels.Backends;

/// <summary>Which linear kernel a fused op runs: the execution mode seen from the backend.</summary>
public enum LinearKind
{
    /// <summary>Dense float32 weights, float activations (<see cref="IBackend.LinearF32"/>).</summary>
    F32,
    /// <summary>INT4 weights, float activations (<see cref="IBackend.LinearW4A16"/>).</summary>
    W4A16,
    /// <summary>INT4 weights, per-token quantized activations (<see cref="IBackend.LinearInt"/>; W4A4 and W4A8).</summary>
    Int,
}
