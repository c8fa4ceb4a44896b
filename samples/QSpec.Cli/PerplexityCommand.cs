using System.CommandLine;
using System.Text.Json;
using QSpec.Generation;
using QSpec.Inference;

namespace QSpec.Cli;

/// <summary><c>qspec perplexity</c>: teacher-forced NLL over the paragraphs of a text file.</summary>
internal static class PerplexityCommand
{
    public static Command Create()
    {
        var common = new CommonOptions();
        var data = new Option<string>("--data") { Description = "Text file; paragraphs are separated by blank lines.", Required = true };
        var paragraphs = new Option<int>("--paragraphs") { Description = "Paragraphs to score.", DefaultValueFactory = _ => 200 };
        var skip = new Option<int>("--skip") { Description = "Paragraphs to skip first.", DefaultValueFactory = _ => 0 };
        var cmd = new Command("perplexity", "Teacher-forced perplexity: each paragraph is BOS plus up to seq_len - 1 tokens.");
        common.AddTo(cmd);
        cmd.Options.Add(data); cmd.Options.Add(paragraphs); cmd.Options.Add(skip);
        cmd.SetAction(r =>
        {
            int count = r.GetValue(paragraphs), skipCount = r.GetValue(skip);
            if (count < 1) throw new ArgumentOutOfRangeException("--paragraphs", count, "Must be positive.");
            if (skipCount < 0) throw new ArgumentOutOfRangeException("--skip", skipCount, "Must not be negative.");
            var mode = ModelLoading.ParseMode(r.GetValue(common.Mode)!);
            var texts = Perplexity.ReadParagraphs(r.GetValue(data)!).Skip(skipCount).Take(count).ToArray();
            var (weights, tokenizer) = ModelLoading.Load(r.GetValue(common.Model), r.GetValue(common.Tokenizer), needInt4: mode is not (null or ExecutionMode.Fp32), needDense: mode == ExecutionMode.Fp32, contextLength: r.GetValue(common.Context));
            using var model = LlamaModel.Create(weights, ModelLoading.ParseBackend(r.GetValue(common.Backend)!));
            using var session = model.CreateSession();
            var resolved = mode ?? model.PreferredMode;
            var progress = ProgressDisplay.OnStderr("perplexity", texts.Length);
            IEnumerable<IReadOnlyList<int>> Tracked()
            {
                foreach (var t in texts) { yield return tokenizer.Encode(t, addBos: true); progress.Step(); } // a step ends when the next is asked for
            }
            var result = Perplexity.Evaluate(session, Tracked(), resolved);
            progress.Finish();
            if (r.GetValue(common.Json))
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["tokens"] = result.Tokens, ["nll"] = result.Nll, ["perplexity"] = result.Perplexity }));
            else
                Console.WriteLine($"{texts.Length} paragraphs, {result.Tokens} tokens, mode {resolved.ToString().ToLowerInvariant()}: nll {result.Nll:F4} nats/token, perplexity {result.Perplexity:F3}");
            return 0;
        });
        return cmd;
    }
}
