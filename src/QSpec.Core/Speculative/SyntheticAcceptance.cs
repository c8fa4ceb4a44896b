using QSpec.Generation;
using QSpec.Inference;

namespace QSpec.Speculative;

/// <summary>
/// BENCHMARK HOOK, for timing QSpec on synthetic (random) weights, where real drafts are never accepted: each draft
/// token is accepted with a chosen probability by an independent coin instead of the acceptance rule (as vLLM's
/// synthetic rejection sampler does), so the real loop (drafts, verify, cache truncation) runs at that rate. The output
/// is then not the verifier's: never use it for text or quality claims.
/// </summary>
public static class SyntheticAcceptance
{
    /// <summary><see cref="SpeculativeDecoder.Generate(IReadOnlyList{int}, CancellationToken)"/> with coin acceptance at <paramref name="rate"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rate"/> is not in [0, 1].</exception>
    public static IEnumerable<int> Generate(SpeculativeDecoder decoder, IReadOnlyList<int> prompt, double rate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        return decoder.Generate(prompt, Validate(rate), cancellationToken);
    }

    /// <summary><see cref="BatchGenerator.Generate(LlamaModel, IReadOnlyList{IReadOnlyList{int}}, SpeculativeOptions, SessionOptions?, CancellationToken)"/> with coin acceptance at <paramref name="rate"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rate"/> is not in [0, 1].</exception>
    public static BatchGenerationResult GenerateBatch(LlamaModel model, IReadOnlyList<IReadOnlyList<int>> prompts, SpeculativeOptions options,
                                                      double rate, SessionOptions? sessionOptions = null, CancellationToken cancellationToken = default)
        => BatchGenerator.Generate(model, prompts, options, sessionOptions, Validate(rate), cancellationToken);

    private static double Validate(double rate)
        => rate is >= 0 and <= 1 ? rate : throw new ArgumentOutOfRangeException(nameof(rate), rate, "The synthetic acceptance rate must be in [0, 1].");
}
