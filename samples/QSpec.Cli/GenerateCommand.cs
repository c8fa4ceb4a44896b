using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using QSpec.Generation;
using QSpec.Inference;
using QSpec.Speculative;

namespace QSpec.Cli;

/// <summary><c>qspec generate</c>: stream a completion, plain or with QSpec speculative decoding.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var common = new CommonOptions();
        var prompt = new Option<string>("--prompt") { Description = "Prompt text; empty starts from BOS.", DefaultValueFactory = _ => "" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens to generate.", DefaultValueFactory = _ => 256 };
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy.", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling threshold in (0, 1].", DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens (0 = all).", DefaultValueFactory = _ => 0 };
        var seed = new Option<int?>("--seed") { Description = "Seed for reproducible sampling." };
        var draftLength = new Option<string>("--draft-length") { Description = "QSpec draft length k (0..16) or auto (default: chosen online from measured costs and acceptance).", DefaultValueFactory = _ => DraftOptions.Auto };
        var draftBits = new Option<string>("--draft-bits") { Description = "QSpec draft activation bits: 4 (W4A4), 8 (W4A8) or auto (chosen per step from measured cost and acceptance).", DefaultValueFactory = _ => DraftOptions.Auto };
        var stats = new Option<bool>("--stats") { Description = "Print QSpec statistics to stderr." };
        common.Mode.Description = "auto (w4a16 for INT4 weights, else fp32), qspec (W4A4/W4A8 drafts verified by W4A16; same tokens as w4a16), w4a16, w4a8, w4a4 or fp32. INT4 modes quantize a float checkpoint with RTN on the fly.";
        var cmd = new Command("generate", "Generate text from a prompt, streaming it to stdout.");
        common.AddTo(cmd);
        foreach (var o in new Option[] { prompt, maxTokens, temperature, topP, topK, seed, draftLength, draftBits, stats }) cmd.Options.Add(o);
        cmd.SetAction(r =>
        {
            var modeText = r.GetValue(common.Mode)!;
            bool qspec = modeText.Equals("qspec", StringComparison.OrdinalIgnoreCase);
            var mode = qspec ? ExecutionMode.W4A16 : ModelLoading.ParseMode(modeText);
            var sampling = new SamplingOptions { Temperature = r.GetValue(temperature), TopP = r.GetValue(topP), TopK = r.GetValue(topK), Seed = r.GetValue(seed) };
            sampling.Validate();
            if (qspec) DraftOptions.Create(r.GetValue(draftLength)!, r.GetValue(draftBits)!, r.GetValue(maxTokens), sampling); // fail before loading
            var (weights, tokenizer) = ModelLoading.Load(r.GetValue(common.Model), r.GetValue(common.Tokenizer), needInt4: qspec || mode is not (null or ExecutionMode.Fp32), needDense: mode == ExecutionMode.Fp32, contextLength: r.GetValue(common.Context));
            using var model = LlamaModel.Create(weights, ModelLoading.ParseBackend(r.GetValue(common.Backend)!));
            using var session = model.CreateSession();
            var promptIds = tokenizer.Encode(r.GetValue(prompt)!, addBos: true);
            // An implicit --max-tokens stops at the context length (a GGUF file may say 128); an explicit one is checked as given.
            int max = r.GetValue(maxTokens);
            if (r.GetResult(maxTokens) is null or { Implicit: true }) max = Math.Max(1, Math.Min(max, model.Config.SeqLen - promptIds.Count));
            int[] stop = [tokenizer.BosId, tokenizer.EosId];
            bool json = r.GetValue(common.Json);

            IEnumerable<int> stream;
            SpeculativeDecoder? decoder = null;
            if (qspec)
            {
                decoder = new SpeculativeDecoder(session, DraftOptions.Create(r.GetValue(draftLength)!, r.GetValue(draftBits)!, max, sampling, stop));
                stream = decoder.Generate(promptIds);
            }
            else
            {
                stream = new Generator(session).Generate(promptIds, new GenerationOptions
                {
                    MaxTokens = max, Sampling = sampling, Mode = mode, StopTokens = stop,
                });
            }

            var text = tokenizer.CreateStreamingDecoder();
            foreach (int id in promptIds) text.Append(id); // so the first generated piece keeps its leading space
            var output = new System.Text.StringBuilder();
            var ids = new List<int>();
            if (!json) Console.Write(r.GetValue(prompt));
            var clock = Stopwatch.StartNew();
            foreach (int id in stream)
            {
                ids.Add(id);
                if (id == tokenizer.BosId || id == tokenizer.EosId) break;
                var piece = text.Append(id);
                output.Append(piece);
                if (!json) Console.Write(piece);
            }
            output.Append(text.Flush());
            double tps = ids.Count / clock.Elapsed.TotalSeconds;
            if (!json) Console.WriteLine();
            Console.Error.WriteLine($"qspec: {ids.Count} tokens in {clock.Elapsed.TotalSeconds:F2} s, {tps:F1} tokens/s ({(qspec ? "qspec" : (mode ?? model.PreferredMode).ToString().ToLowerInvariant())}, {model.Backend.Name})");
            if (decoder is not null && r.GetValue(stats)) Console.Error.WriteLine($"qspec: {decoder.Statistics}");
            if (json)
            {
                var statsObj = new Dictionary<string, object?> { ["tokens_per_second"] = tps };
                if (decoder is not null) StatsJson.AddSpeculative(statsObj, decoder.Statistics);
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?> { ["tokens"] = ids, ["text"] = output.ToString(), ["stats"] = statsObj }));
            }
            return 0;
        });
        return cmd;
    }
}
