using System.Text;
using QSpec.Inference;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Model;

namespace QSpec.Core.Tests.Fuzzing;

/// <summary>Seeded mutants of stories260K-q4_0-mixed.gguf (Q4_0 and F32 tensors, SPM vocabulary): only documented exceptions.</summary>
public sealed class GgufReaderFuzzTests
{
    private static readonly Lazy<FileMutator> s_gguf = new(() =>
    {
        var bytes = File.ReadAllBytes(SharedData.PathOf("models", "stories260K", "stories260K-q4_0-mixed.gguf"));
        int embd = IndexOf(bytes, "token_embd.weight"), ffn = IndexOf(bytes, "blk.0.ffn_down.weight");
        return new FileMutator(bytes, seed: 1212,
        [
            new("version", 4), new("tensor_count", 8, 8), new("kv_count", 16, 8), new("first key length", 24, 8),
            new("token_embd n_dims", embd + 17), new("token_embd ne[0]", embd + 21, 8), new("token_embd ne[1]", embd + 29, 8),
            new("token_embd type", embd + 37), new("token_embd offset", embd + 41, 8),
            new("ffn_down ne[0]", ffn + 25, 8), new("ffn_down type", ffn + 41), new("ffn_down offset", ffn + 45, 8),
        ], headerBytes: 14208);
    });

    public static TheoryData<Mutation> Families => FuzzHarness.FamiliesOf(s_gguf.Value);

    [Theory]
    [MemberData(nameof(Families))]
    public void MutantsThrowOnlyDocumentedExceptions(Mutation family) =>
        FuzzHarness.Run(s_gguf.Value, family, FileMutator.CaseCount(), ".gguf", LoadAndStep);

    /// <summary>A mutant that loads must also run: one forward step in the mode its weights support.</summary>
    internal static void LoadAndStep(string path)
    {
        var contents = ModelFiles.Read(path);
        using var model = LlamaModel.Create(contents.Weights, new CpuBackend());
        using var session = model.CreateSession();
        session.Forward([1], 0, model.Supports(ExecutionMode.W4A16) ? ExecutionMode.W4A16 : ExecutionMode.Fp32);
        contents.Tokenizer?.Decode(contents.Tokenizer.Encode("Once upon a time", addBos: true));
    }

    private static int IndexOf(byte[] haystack, string needle)
    {
        int i = haystack.AsSpan().IndexOf(Encoding.ASCII.GetBytes(needle));
        Assert.True(i > 0, needle);
        return i;
    }
}
