using QSpec.Inference;
using QSpec.Model;
using QSpec.Quantization;

namespace QSpec.Core.Tests.Fuzzing;

/// <summary>Seeded mutants of a .qspec file (RTN INT4 stories260K, tokenizer embedded), JSON edits included.</summary>
public sealed class QSpecFileFuzzTests
{
    private static readonly Lazy<FileMutator> s_mutator = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"qspec-fuzz-seed-{Guid.NewGuid():N}.qspec");
        try
        {
            var weights = ModelQuantizer.Quantize(TestData.Stories260K, new QuantizerOptions { Method = QuantizationMethod.Rtn, GroupSize = 32 }, null);
            QSpecFile.Write(path, weights, File.ReadAllBytes(SharedData.DefaultTokenizer));
            var bytes = File.ReadAllBytes(path);
            int headerEnd = 8 + (int)BitConverter.ToInt64(bytes);
            return new FileMutator(bytes, seed: 9, [new("header_length", 0, Width: 8)], headerBytes: headerEnd) { JsonHeader = true };
        }
        finally { File.Delete(path); }
    });

    public static TheoryData<Mutation> Families => FuzzHarness.FamiliesOf(s_mutator.Value);

    [Theory]
    [MemberData(nameof(Families))]
    public void MutantsThrowOnlyDocumentedExceptions(Mutation family) =>
        FuzzHarness.Run(s_mutator.Value, family, FileMutator.CaseCount(), ".qspec", path =>
        {
            var contents = QSpecFile.Read(path);
            using var model = LlamaModel.Create(contents.Weights);
            using var session = model.CreateSession();
            session.Forward([1], 0, model.PreferredMode);
        });
}
