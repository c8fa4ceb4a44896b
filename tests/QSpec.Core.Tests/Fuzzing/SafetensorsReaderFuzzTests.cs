using QSpec.Inference;
using QSpec.Kernels.Backends.Cpu;
using QSpec.Model;

namespace QSpec.Core.Tests.Fuzzing;

/// <summary>
/// Seeded mutants of stories260K-hf's model.safetensors (header length, JSON edits, data), read as a Hugging Face
/// checkpoint with the folder's config.json and tokenizer beside it: only documented exceptions.
/// </summary>
public sealed class SafetensorsReaderFuzzTests
{
    private static string Folder => SharedData.PathOf("models", "stories260K-hf");

    private static readonly Lazy<FileMutator> s_safetensors = new(() =>
    {
        var bytes = File.ReadAllBytes(Path.Combine(Folder, "model.safetensors"));
        int headerEnd = 8 + (int)BitConverter.ToInt64(bytes, 0);
        return new FileMutator(bytes, seed: 1213, [new("header length", 0, 8)], headerBytes: headerEnd) { JsonHeader = true };
    });

    public static TheoryData<Mutation> Families => FuzzHarness.FamiliesOf(s_safetensors.Value);

    [Theory]
    [MemberData(nameof(Families))]
    public void MutantsThrowOnlyDocumentedExceptions(Mutation family) =>
        FuzzHarness.Run(s_safetensors.Value, family, FileMutator.CaseCount(), ".safetensors", LoadAndStep);

    /// <summary>Puts config.json and the tokenizer beside the mutant (once per folder), reads it and runs one step.</summary>
    internal static void LoadAndStep(string path)
    {
        var dir = Path.GetDirectoryName(path)!;
        foreach (var f in new[] { "config.json", "tokenizer.model", "tokenizer_config.json" })
            if (!File.Exists(Path.Combine(dir, f))) File.Copy(Path.Combine(Folder, f), Path.Combine(dir, f));
        var contents = ModelFiles.Read(path);
        using var model = LlamaModel.Create(contents.Weights, new CpuBackend());
        using var session = model.CreateSession();
        session.Forward([1], 0, ExecutionMode.Fp32);
    }
}
