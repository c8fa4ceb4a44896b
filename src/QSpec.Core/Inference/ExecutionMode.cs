namespace QSpec.Inference;

/// <summary>How the linear layers of a forward pass compute. Everything else (norms, RoPE, attention, KV cache) is shared.</summary>
public enum ExecutionMode
{
    /// <summary>Float32 weights and activations: the reference. Needs dense weights.</summary>
    Fp32,
    /// <summary>INT4 weights dequantized on the fly, float activations: the high-fidelity verifier.</summary>
    W4A16,
    /// <summary>INT4 weights, per-token INT4 activations (scale absmax/7), integer dot products: the QSpec draft.</summary>
    W4A4,
    /// <summary>INT4 weights, per-token INT8 activations (scale absmax/127): a gentler draft.</summary>
    W4A8,
}

/// <summary>Receives the input activations of each linear layer during a forward (GPTQ calibration, analysis).</summary>
public interface ILinearInputObserver
{
    /// <summary>Called before the linear layer <paramref name="layerName"/> (e.g. "layers.3.w2") with its input X[rows, columns].</summary>
    void Observe(string layerName, ReadOnlySpan<float> x, int rows, int columns);
}
