namespace QSpec.Model;

/// <summary>
/// The shape of a Llama-family model. Immutable; validated by <see cref="Validate"/>.
/// </summary>
/// <param name="Dim">Residual width D.</param>
/// <param name="HiddenDim">SwiGLU hidden width H.</param>
/// <param name="Layers">Number of transformer blocks.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads (grouped-query attention when fewer than <paramref name="Heads"/>).</param>
/// <param name="VocabSize">Vocabulary size V.</param>
/// <param name="SeqLen">The model's maximum context length; a session's KV cache holds <see cref="Inference.SessionOptions.ContextLength"/> positions, at most this.</param>
/// <param name="SharedClassifier">True when the classifier is the token embedding.</param>
/// <param name="RopeTheta">RoPE base θ.</param>
/// <param name="NormEps">RMSNorm ε.</param>
public sealed record LlamaConfig(
    int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int VocabSize, int SeqLen,
    bool SharedClassifier = true, float RopeTheta = 10000f, float NormEps = 1e-5f)
{
    /// <summary>Width of one head: D / heads.</summary>
    public int HeadSize => Dim / Heads;

    /// <summary>Width of the K and V projections: kvHeads · headSize.</summary>
    public int KvDim => KvHeads * HeadSize;

    /// <summary>Upper bound on every dimension, to reject garbage headers before allocating.</summary>
    public const int MaxDimension = 1 << 20;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public LlamaConfig Validate()
    {
        Check(Dim, nameof(Dim)); Check(HiddenDim, nameof(HiddenDim)); Check(Layers, nameof(Layers));
        Check(Heads, nameof(Heads)); Check(KvHeads, nameof(KvHeads)); Check(VocabSize, nameof(VocabSize)); Check(SeqLen, nameof(SeqLen));
        if (Dim % Heads != 0) throw new ArgumentException($"Dim ({Dim}) is not a multiple of Heads ({Heads}).", nameof(Heads));
        if (Heads % KvHeads != 0) throw new ArgumentException($"Heads ({Heads}) is not a multiple of KvHeads ({KvHeads}).", nameof(KvHeads));
        if (HeadSize % 2 != 0) throw new ArgumentException($"Head size ({HeadSize}) must be even for RoPE.", nameof(Heads));
        if (!(RopeTheta > 1f) || !(NormEps > 0f)) throw new ArgumentException($"RopeTheta ({RopeTheta}) and NormEps ({NormEps}) must be positive.", nameof(RopeTheta));
        return this;

        static void Check(int value, string name)
        {
            if (value <= 0 || value > MaxDimension)
                throw new ArgumentOutOfRangeException(name, value, $"{name} must be in 1..{MaxDimension}.");
        }
    }
}
