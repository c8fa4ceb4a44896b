using QSpec.Kernels.Formats;
using QSpec.Model;

namespace QSpec.Benchmarks;

/// <summary>
/// Random INT4 weights in the shapes of real models, for timing only: they say nothing about quality or acceptance.
/// Benchmark code (compiled into <c>qspec bench --synthetic</c> too), not part of the library.
/// No float32 copy is made, so a 1.1B-parameter shape needs about 0.6 GB (INT4 matrices plus the float embedding).
/// </summary>
public static class SyntheticModel
{
    /// <summary>Known shapes by name: "tinyllama-1.1b", "stories110m", "stories15m", "stories260k".</summary>
    public static IReadOnlyDictionary<string, LlamaConfig> Shapes { get; } = new Dictionary<string, LlamaConfig>(StringComparer.OrdinalIgnoreCase)
    {
        ["tinyllama-1.1b"] = new(Dim: 2048, HiddenDim: 5632, Layers: 22, Heads: 32, KvHeads: 4, VocabSize: 32000, SeqLen: 2048, SharedClassifier: false),
        ["stories110m"] = new(Dim: 768, HiddenDim: 2048, Layers: 12, Heads: 12, KvHeads: 12, VocabSize: 32000, SeqLen: 1024),
        ["stories15m"] = new(Dim: 288, HiddenDim: 768, Layers: 6, Heads: 6, KvHeads: 6, VocabSize: 32000, SeqLen: 256),
        ["stories260k"] = new(Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KvHeads: 4, VocabSize: 512, SeqLen: 512),
    };

    /// <summary>The shape called <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">The name is unknown; the message lists the known ones.</exception>
    public static LlamaConfig Shape(string name) => Shapes.TryGetValue(name, out var c) ? c
        : throw new ArgumentException($"Unknown synthetic shape '{name}'; known: {string.Join(", ", Shapes.Keys)}.", nameof(name));

    /// <summary>
    /// Group size of <c>qspec bench --synthetic</c>'s weights unless told otherwise: 32, GGUF Q4_0's, so the synthetic
    /// shape reads as many scale bytes and runs the same kernel path as llama.cpp's Q4_0 file (per-channel scales, G = 0,
    /// read fewer bytes and skip the per-group rescaling, which flatters qspec in a comparison with llama.cpp).
    /// </summary>
    public const int DefaultGroupSize = 32;

    /// <summary>
    /// Random weights for <paramref name="config"/>: uniform INT4 nibbles, fp16 scales chosen so activations stay O(1),
    /// Gaussian-ish embedding, unit norms; <paramref name="groupSize"/> 0 is per output channel.
    /// </summary>
    public static LlamaWeights Create(LlamaConfig config, int groupSize = DefaultGroupSize, int seed = 0)
    {
        config.Validate();
        var rng = new Random(seed);
        LinearWeight Linear(int rows, int cols)
        {
            var m = Int4Matrix.CreateZero(rows, cols, groupSize);
            rng.NextBytes(m.Data);
            // Uniform q in [-8, 7] has standard deviation ~4.6; this scale gives outputs of unit variance for unit inputs.
            // Rounded to fp16 like a GGUF Q4_0 file's, so the kernels read the 2-byte scales Q4_0 reads (CpuBackendOptions.HalfPrecisionScales).
            float scale = (float)(Half)(1f / (4.6f * MathF.Sqrt(cols)));
            m.Scales.AsSpan().Fill(scale);
            return new LinearWeight(rows, cols, null, m);
        }
        float[] Vector(int n, float value) { var v = new float[n]; v.AsSpan().Fill(value); return v; }
        int d = config.Dim, h = config.HiddenDim, kv = config.KvDim;
        var embedding = new float[(long)config.VocabSize * d];
        for (long i = 0; i < embedding.LongLength; i++) embedding[i] = (float)(rng.NextDouble() * 2 - 1);
        var layers = Enumerable.Range(0, config.Layers).Select(_ => new LayerWeights(
            Vector(d, 1f), Linear(d, d), Linear(kv, d), Linear(kv, d), Linear(d, d),
            Vector(d, 1f), Linear(h, d), Linear(d, h), Linear(h, d))).ToArray();
        return new LlamaWeights(config, embedding, layers, Vector(d, 1f), Linear(config.VocabSize, d),
            new QuantizationInfo("synthetic", groupSize, "none", 0));
    }
}
