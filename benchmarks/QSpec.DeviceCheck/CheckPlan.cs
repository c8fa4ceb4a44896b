using QSpec.Benchmarks;
using QSpec.Model;

namespace QSpec.DeviceCheck;

/// <summary>
/// Sizes of every check: the real ones for a GPU, and a shrunk set for <c>--sim</c> (ILGPU's CPU accelerator runs
/// simulated threads as OS threads, thousands of times slower than a GPU) that exercises the same code paths.
/// </summary>
internal sealed record CheckPlan(
    bool Simulated,
    (int N, int K, int GroupSize, int M)[] LinearShapes,
    int NormRows, int NormDim,
    (int Heads, int KvHeads, int HeadSize, int Start, int Rows) Attention,
    int GreedyTokens, int ExpectedTokens, int QSpecTokens, int QSpecBatch,
    (string Model, int N, int K)[] SpeedShapes, int[] SpeedMs, long CycleBytes, long CopyBytes,
    string EndToEndShape, LlamaConfig EndToEndConfig, int[] EndToEndBatches, int EndToEndTokens, int LaunchRepeats)
{
    /// <summary>The GPU plan (about 8 minutes on an H200 at the latest; the run's budget cuts it off otherwise).</summary>
    public static CheckPlan Gpu { get; } = new(
        Simulated: false,
        LinearShapes: [(4099, 2049, 64, 33), (32000, 2048, 128, 4), (1031, 4097, 0, 3), (2048, 5632, 128, 8)],
        NormRows: 33, NormDim: 4099,
        Attention: (32, 8, 128, 1000, 5),
        GreedyTokens: 64, ExpectedTokens: 256, QSpecTokens: 64, QSpecBatch: 4,
        SpeedShapes:
        [
            ("tinyllama", 2048, 2048), ("tinyllama", 256, 2048), ("tinyllama", 5632, 2048), ("tinyllama", 2048, 5632), ("tinyllama", 32000, 2048),
            ("llama3-8b", 4096, 4096), ("llama3-8b", 1024, 4096), ("llama3-8b", 14336, 4096), ("llama3-8b", 4096, 14336), ("llama3-8b", 128256, 4096),
            ("narrow-long", 512, 14336), // the split-K rule's case: 3 parts on an H100
        ],
        SpeedMs: [1, 4, 8, 16, 32], CycleBytes: 256L << 20, CopyBytes: 1L << 30,
        EndToEndShape: "tinyllama-1.1b", EndToEndConfig: SyntheticModel.Shape("tinyllama-1.1b"), EndToEndBatches: [1, 8, 32], EndToEndTokens: 32, LaunchRepeats: 2000);

    /// <summary>The shrunk plan for ILGPU's CPU accelerator (seconds, not minutes).</summary>
    public static CheckPlan Sim { get; } = new(
        Simulated: true,
        LinearShapes: [(67, 129, 64, 9), (300, 128, 128, 4), (13, 200, 0, 3)], // 9 rows: the tensor-core checks' smallest call
        NormRows: 5, NormDim: 131,
        Attention: (4, 2, 8, 37, 3),
        GreedyTokens: 5, ExpectedTokens: 8, QSpecTokens: 4, QSpecBatch: 2,
        SpeedShapes: [("stories260k", 172, 64), ("stories260k", 64, 172)],
        SpeedMs: [1, 4, 9], CycleBytes: 1L << 16, CopyBytes: 1L << 20,
        EndToEndShape: "tiny-2layer",
        EndToEndConfig: new LlamaConfig(Dim: 64, HiddenDim: 128, Layers: 2, Heads: 4, KvHeads: 2, VocabSize: 256, SeqLen: 128),
        EndToEndBatches: [1, 2], EndToEndTokens: 3, LaunchRepeats: 20);
}
