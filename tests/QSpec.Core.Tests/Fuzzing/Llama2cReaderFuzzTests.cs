using QSpec.Core.Tests.Fuzzing;
using QSpec.Inference;
using QSpec.Model;

namespace QSpec.Core.Tests.Fuzzing;

/// <summary>Seeded mutants of stories260K.bin (version 0) and of its version-1 rewrite: only documented exceptions.</summary>
public sealed class Llama2cReaderFuzzTests
{
    private static readonly Lazy<FileMutator> s_version0 = new(() => new FileMutator(
        File.ReadAllBytes(SharedData.DefaultModel), seed: 2601,
        [
            new("dim", 0), new("hidden_dim", 4), new("n_layers", 8), new("n_heads", 12),
            new("n_kv_heads", 16), new("vocab_size", 20), new("seq_len", 24),
        ]));

    public static TheoryData<Mutation> Families => FuzzHarness.FamiliesOf(s_version0.Value);

    [Theory]
    [MemberData(nameof(Families))]
    public void Version0MutantsThrowOnlyDocumentedExceptions(Mutation family) =>
        FuzzHarness.Run(s_version0.Value, family, FileMutator.CaseCount(), ".bin", LoadAndStep);

    /// <summary>A mutant that loads must also run: one forward step on a fresh session.</summary>
    internal static void LoadAndStep(string path)
    {
        var weights = Llama2cReader.Read(path);
        using var model = LlamaModel.Create(weights);
        using var session = model.CreateSession();
        session.Forward([1], 0, ExecutionMode.Fp32);
    }
}
