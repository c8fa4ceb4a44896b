namespace QSpec.Kernels.Backends.Cpu;

/// <summary>
/// One calling thread's pinned buffer for permuted W4A16 activations of one layout (<see cref="LinearW4A16NibbleActivations"/>,
/// <see cref="LinearW4A16Avx2Activations"/>), and what it last held: a fused op's calls on one X may reuse it.
/// </summary>
/// <remarks>
/// A fused op captures several calls on one X before running any of them (<see cref="ChannelJobs"/>); inside such a
/// capture X cannot change, so a buffer that already holds this X, in this shape, from this same capture
/// (<see cref="CpuWorkerPool.CaptureId"/>) is returned as is: Q, K and V (or W1 and W3) permute X once. Outside a capture,
/// or from another one, it is permuted again (the forward reuses its activation arrays with new contents). Layouts that
/// may meet in one fused op (split and not split: matrices of different group sizes) need a slot each, so that one
/// call's permutation never overwrites the one another captured call reads.
/// </remarks>
internal sealed unsafe class PermutedActivationSlot
{
    private float[]? _buffer;
    private (float[]? X, int Rows, int K, long Capture) _held;

    /// <summary>
    /// The buffer (at least <paramref name="floats"/> floats, pinned), the offset of its first 64-byte aligned float, and
    /// whether it already holds X[rows, k] permuted in this capture; when not, the caller permutes into it and calls
    /// <see cref="Hold"/>.
    /// </summary>
    public (float[] Buffer, int Offset, bool Held) Acquire(float[] x, int rows, int k, int floats)
    {
        long capture = CpuWorkerPool.CaptureId;
        bool held = capture != 0 && _buffer is not null && _buffer.Length >= floats && _held == (x, rows, k, capture);
        if (_buffer is null || _buffer.Length < floats)
        {
            _buffer = GC.AllocateUninitializedArray<float>(floats, pinned: true);
            _held = default;
        }
        int offset;
        fixed (float* p = _buffer) offset = (int)((64 - ((nint)p & 63)) & 63) / sizeof(float);
        return (_buffer, offset, held);
    }

    /// <summary>Records that the buffer now holds X[rows, k] permuted in the current capture.</summary>
    public void Hold(float[] x, int rows, int k) => _held = (x, rows, k, CpuWorkerPool.CaptureId);
}
