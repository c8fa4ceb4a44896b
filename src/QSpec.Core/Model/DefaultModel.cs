using System.Reflection;
using QSpec.Tokenization;

namespace QSpec.Model;

/// <summary>
/// The default model, stories260K and tok512, carried as manifest resources by the QSpec.Models.Stories260K assembly
/// (embedded at build time from the shared models folder), so a first run needs no file on disk.
/// </summary>
internal static class DefaultModel
{
    /// <summary>The resource assembly's name.</summary>
    public const string AssemblyName = "QSpec.Models.Stories260K";
    /// <summary>Manifest resource of the llama2.c checkpoint.</summary>
    public const string ModelResource = "QSpec.Models.stories260K.bin";
    /// <summary>Manifest resource of the llama2.c tokenizer.</summary>
    public const string TokenizerResource = "QSpec.Models.tok512.bin";

    /// <summary>True when the resource assembly is deployed with the application and holds both resources.</summary>
    public static bool IsAvailable => TryGetAssembly() is Assembly a
        && a.GetManifestResourceInfo(ModelResource) is not null && a.GetManifestResourceInfo(TokenizerResource) is not null;

    /// <summary>Reads the embedded model; <paramref name="tokenizerPath"/> replaces the embedded tokenizer when set.</summary>
    /// <exception cref="InvalidOperationException">The resource assembly or a resource is missing.</exception>
    public static ModelFileContents Read(string? tokenizerPath = null)
    {
        var assembly = TryGetAssembly() ?? throw new InvalidOperationException(
            $"The default model is not available: the {AssemblyName} assembly is not deployed with this application. " +
            $"Reference the {AssemblyName} package, or load a model file with LlamaModel.Load(path).");
        using var model = Open(assembly, ModelResource);
        var weights = Llama2cReader.Read(model, $"{AssemblyName}:{ModelResource}");
        LlamaTextTokenizer tokenizer;
        if (tokenizerPath is not null) tokenizer = LlamaTextTokenizer.Load(tokenizerPath);
        else
        {
            using var tok = Open(assembly, TokenizerResource);
            tokenizer = LlamaTextTokenizer.Load(tok, $"{AssemblyName}:{TokenizerResource}");
        }
        tokenizer.EnsureVocabularySize(weights.Config.VocabSize);
        return new ModelFileContents(weights, tokenizer, null, ModelFormat.Llama2c);
    }

    private static Stream Open(Assembly assembly, string name) => assembly.GetManifestResourceStream(name)
        ?? throw new InvalidOperationException($"The {AssemblyName} assembly has no resource '{name}': it was built without the shared models folder.");

    private static Assembly? TryGetAssembly()
    {
        try { return Assembly.Load(new AssemblyName(AssemblyName)); }
        catch (FileNotFoundException) { return null; }
        catch (FileLoadException) { return null; }
        catch (BadImageFormatException) { return null; }
    }
}
