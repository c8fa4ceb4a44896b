using QSpec.Inference;

namespace QSpec.Generation;

/// <summary>Teacher-forced negative log-likelihood over token sequences.</summary>
/// <param name="Tokens">Predicted tokens (each sequence contributes its length minus one).</param>
/// <param name="TotalNll">Sum of −ln p(token) in nats.</param>
public sealed record PerplexityResult(long Tokens, double TotalNll)
{
    /// <summary>Mean NLL per predicted token (nats).</summary>
    public double Nll => Tokens == 0 ? double.NaN : TotalNll / Tokens;
    /// <summary>exp(mean NLL).</summary>
    public double Perplexity => Math.Exp(Nll);
}

/// <summary>Scores text with a model: each sequence is BOS plus up to seq_len − 1 tokens, every next token predicted.</summary>
public static class Perplexity
{
    /// <summary>
    /// Splits a text file into paragraphs on blank lines, trimming each and dropping empty ones.
    /// </summary>
    public static IReadOnlyList<string> ReadParagraphs(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Data file not found: '{path}'.", path);
        var text = File.ReadAllText(path).Replace("\r\n", "\n");
        return text.Split("\n\n").Select(p => p.Trim()).Where(p => p.Length > 0).ToArray();
    }

    /// <summary>
    /// Teacher-forced NLL of each sequence (which must start with BOS), truncated to the context length.
    /// </summary>
    public static PerplexityResult Evaluate(InferenceSession session, IEnumerable<IReadOnlyList<int>> sequences, ExecutionMode mode,
                                            CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(sequences);
        int v = session.Model.Config.VocabSize, seqLen = session.ContextLength;
        long count = 0;
        double total = 0;
        foreach (var sequence in sequences)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var tokens = sequence.Take(seqLen).ToArray();
            if (tokens.Length < 2) continue;
            // The forward checks the inputs; the last token is only a target, so check it here.
            if ((uint)tokens[^1] >= (uint)v)
                throw new ArgumentOutOfRangeException(nameof(sequences), tokens[^1], $"Token id must be in 0..{v - 1}.");
            session.Reset();
            var logits = session.Forward(tokens.AsSpan(0, tokens.Length - 1), 0, mode);
            for (int i = 0; i + 1 < tokens.Length; i++)
            {
                total += -LogSoftmax(logits.AsSpan(i * v, v), tokens[i + 1]);
                count++;
            }
        }
        return new PerplexityResult(count, total);
    }

    /// <summary>ln softmax(logits)[target], computed stably in double.</summary>
    public static double LogSoftmax(ReadOnlySpan<float> logits, int target)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits) max = MathF.Max(max, l);
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        return logits[target] - max - Math.Log(sum);
    }
}
