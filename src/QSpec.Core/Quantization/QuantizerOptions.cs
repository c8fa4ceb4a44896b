using QSpec.Kernels.Formats;

namespace QSpec.Quantization;

/// <summary>The weight quantization algorithm.</summary>
public enum QuantizationMethod
{
    /// <summary>Round to nearest, scale = absmax / 7 (optionally clip-searched).</summary>
    Rtn,
    /// <summary>GPTQ (Frantar et al. 2022): column-by-column rounding with Hessian-based error feedback.</summary>
    Gptq,
}

/// <summary>
/// How <see cref="ModelQuantizer"/> turns float32 weights into INT4. Immutable; every property has a documented default.
/// </summary>
public sealed record QuantizerOptions
{
    /// <summary>The algorithm. Default <see cref="QuantizationMethod.Gptq"/>.</summary>
    public QuantizationMethod Method { get; init; } = QuantizationMethod.Gptq;

    /// <summary>Input columns per scale: 0 (one scale per output channel), 32, 64 or 128. Default 64.</summary>
    public int GroupSize { get; init; } = 64;

    /// <summary>
    /// When true, each group's scale is the absmax scale shrunk by the clip ratio from the grid
    /// (<see cref="MaxClipRatio"/> down to <see cref="MinClipRatio"/> in <see cref="ClipSteps"/> steps) that minimizes the
    /// group's squared rounding error (for GPTQ weighted by the Hessian diagonal). Applies to RTN and to GPTQ's group
    /// scales. Default true.
    /// </summary>
    public bool ClipSearch { get; init; } = true;

    /// <summary>Smallest clip ratio tried by the clip search, in (0, 1]. Default 0.5.</summary>
    public float MinClipRatio { get; init; } = 0.5f;

    /// <summary>Largest clip ratio tried by the clip search, in (0, 1]. Default 1.0.</summary>
    public float MaxClipRatio { get; init; } = 1f;

    /// <summary>Number of clip ratios in the grid (≥ 1; 1 means only <see cref="MaxClipRatio"/>). Default 11 (steps of 0.05).</summary>
    public int ClipSteps { get; init; } = 11;

    /// <summary>
    /// GPTQ only: process columns in order of decreasing Hessian diagonal ("act-order"). With groups, a group's scale
    /// is formed the first time one of its columns is reached, from the group's current weights. Default true.
    /// </summary>
    public bool ActOrder { get; init; } = true;

    /// <summary>
    /// GPTQ only: quantize block by block, collecting each transformer block's (and finally the classifier's) Hessians
    /// from the model whose earlier blocks are already quantized, so later layers compensate for earlier rounding
    /// (GPTQ's sequential mode; L + 1 calibration passes). False collects every Hessian once from the float32 model.
    /// Default true.
    /// </summary>
    public bool Sequential { get; init; } = true;

    /// <summary>GPTQ only: dampening added to the Hessian diagonal, as a fraction of its mean. Default 0.01.</summary>
    public double Damp { get; init; } = 0.01;

    /// <summary>GPTQ only: columns per lazy-batch block. Default 128.</summary>
    public int BlockSize { get; init; } = 128;

    /// <summary>Rotate the model (QuaRot-style, see <see cref="ModelRotation"/>) before quantizing. Default true.</summary>
    public bool Rotate { get; init; } = true;

    /// <summary>Seed of the random signs / random orthogonal matrix of the rotation. Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>The clip ratios the search tries, largest first; just <see cref="MaxClipRatio"/> when the search is off.</summary>
    public float[] ClipRatios()
    {
        if (!ClipSearch || ClipSteps == 1) return [MaxClipRatio];
        var r = new float[ClipSteps];
        for (int i = 0; i < ClipSteps; i++)
            r[i] = MaxClipRatio - (MaxClipRatio - MinClipRatio) * i / (ClipSteps - 1);
        return r;
    }

    /// <summary>The name recorded in <c>QuantizationInfo.Method</c>: "rtn", "rtn-clip", "gptq" or "gptq-clip".</summary>
    public string MethodName => (Method == QuantizationMethod.Gptq ? "gptq" : "rtn") + (ClipSearch ? "-clip" : "");

    /// <summary>Throws <see cref="ArgumentException"/> (or a subclass) whose ParamName is the first invalid property.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Method)) throw new ArgumentOutOfRangeException(nameof(Method), Method, "Unknown quantization method.");
        if (GroupSize is not (0 or 32 or 64 or 128))
            throw new ArgumentOutOfRangeException(nameof(GroupSize), GroupSize, "Group size must be 0 (per output channel), 32, 64 or 128.");
        if (!(MinClipRatio > 0f && MinClipRatio <= 1f))
            throw new ArgumentOutOfRangeException(nameof(MinClipRatio), MinClipRatio, "Clip ratios must be in (0, 1].");
        if (!(MaxClipRatio >= MinClipRatio && MaxClipRatio <= 1f))
            throw new ArgumentOutOfRangeException(nameof(MaxClipRatio), MaxClipRatio, $"Must be in [{nameof(MinClipRatio)} = {MinClipRatio}, 1].");
        if (ClipSteps < 1) throw new ArgumentOutOfRangeException(nameof(ClipSteps), ClipSteps, "At least one clip ratio is needed.");
        if (!(Damp > 0 && Damp < 1)) throw new ArgumentOutOfRangeException(nameof(Damp), Damp, "Dampening must be in (0, 1).");
        if (BlockSize < 1) throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "Block size must be positive.");
    }
}
