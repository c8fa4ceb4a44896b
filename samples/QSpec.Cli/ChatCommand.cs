using System.CommandLine;
using Microsoft.Extensions.AI;
using QSpec.Chat;
using QSpec.Generation;
using QSpec.Inference;

namespace QSpec.Cli;

/// <summary>
/// <c>qspec chat</c>: an interactive conversation through <see cref="QSpecChatClient"/>. Each line read is a user turn;
/// the reply streams to stdout and a stats line goes to stderr. <c>/reset</c> starts over, <c>/exit</c> or end of
/// input quits, Ctrl-C stops the reply being generated.
/// </summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var common = new CommonOptions();
        common.Mode.Description = "auto (qspec for INT4 weights, else fp32), qspec (W4A4/W4A8 drafts verified by W4A16; same text as w4a16), w4a16, w4a8, w4a4 or fp32. INT4 modes quantize a float checkpoint with RTN on the fly.";
        var system = new Option<string?>("--system") { Description = "A system message that opens the conversation." };
        var template = new Option<string?>("--template")
        {
            Description = "Prompt format instead of the model's chat template: plain, chatml, llama2, llama2-sys, llama2-sys-bos, llama2-sys-strip, llama3, zephyr, mistral-v1, mistral-v3, mistral-v3-tekken, mistral-v7, gemma or phi3.",
        };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens per reply.", DefaultValueFactory = _ => 256 };
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy.", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling threshold in (0, 1].", DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens (0 = all).", DefaultValueFactory = _ => 0 };
        var minP = new Option<float>("--min-p") { Description = "Drop tokens below this fraction of the most likely one's probability (0 = off).", DefaultValueFactory = _ => 0f };
        var repeat = new Option<float>("--repeat-penalty") { Description = "Repetition penalty over the last 64 tokens (1 = off).", DefaultValueFactory = _ => 1f };
        var seed = new Option<int?>("--seed") { Description = "Seed for reproducible sampling." };
        var draftLength = new Option<string>("--draft-length") { Description = "QSpec draft length k (0..16) or 'auto'.", DefaultValueFactory = _ => "auto" };
        var draftBits = new Option<int>("--draft-bits") { Description = "QSpec draft activation bits: 4 (W4A4) or 8 (W4A8).", DefaultValueFactory = _ => 4 };
        var cmd = new Command("chat", "Chat with a model: each input line is a turn; /reset starts over, /exit quits.");
        common.AddTo(cmd);
        foreach (var o in new Option[] { system, template, maxTokens, temperature, topP, topK, minP, repeat, seed, draftLength, draftBits }) cmd.Options.Add(o);
        cmd.SetAction(r =>
        {
            var modeText = r.GetValue(common.Mode)!.ToLowerInvariant();
            if (modeText != "auto" && !QSpecChatClientOptions.Modes.Contains(modeText))
                throw new ArgumentException($"Unknown --mode '{modeText}'; use auto, {string.Join(", ", QSpecChatClientOptions.Modes)}.", "--mode");
            var k = r.GetValue(draftLength)!;
            int? draft = k.Equals("auto", StringComparison.OrdinalIgnoreCase) ? null
                : int.TryParse(k, out int kv) && kv is >= 0 and <= 16 ? kv
                : throw new ArgumentException($"--draft-length must be 0..16 or 'auto', not '{k}'.", "--draft-length");
            int bits = r.GetValue(draftBits) is 4 or 8 ? r.GetValue(draftBits) : throw new ArgumentException($"--draft-bits must be 4 or 8, not {r.GetValue(draftBits)}.", "--draft-bits");
            int max = r.GetValue(maxTokens) > 0 ? r.GetValue(maxTokens) : throw new ArgumentException($"--max-tokens must be positive, not {r.GetValue(maxTokens)}.", "--max-tokens");
            var sampling = CliSampling(r.GetValue(temperature), r.GetValue(topP), r.GetValue(topK), r.GetValue(minP), r.GetValue(repeat), r.GetValue(seed));
            var format = r.GetValue(template) is { } t ? ParseTemplate(t) : null;

            bool int4 = modeText is "qspec" or "w4a16" or "w4a8" or "w4a4";
            var (weights, tokenizer, chatTemplate) = ModelLoading.LoadWithTemplate(r.GetValue(common.Model), r.GetValue(common.Tokenizer), needInt4: int4,
                needDense: modeText == "fp32", contextLength: r.GetValue(common.Context));
            using var model = LlamaModel.Create(weights, ModelLoading.ParseBackend(r.GetValue(common.Backend)!));
            using var chat = new QSpecChatClient(model, new QSpecChatClientOptions
            {
                Mode = modeText == "auto" ? null : modeText, DraftLength = draft, DraftBits = bits, Tokenizer = tokenizer,
                Format = format ?? ChatFormat.FromTemplate(chatTemplate), MaxOutputTokens = max, Sampling = sampling,
            });
            return Repl(chat, ModelLoading.DisplayName(r.GetValue(common.Model)), r.GetValue(system), model.Backend.Name);
        });
        return cmd;
    }

    private static int Repl(QSpecChatClient chat, string modelName, string? system, string backend)
    {
        bool interactive = !Console.IsInputRedirected;
        Console.Error.WriteLine($"qspec chat: {modelName}, mode {chat.ModeName}, format {chat.Format.Family.ToString().ToLowerInvariant()}, {backend}. " +
                                "/reset starts over, /exit quits, Ctrl-C stops a reply.");
        var history = new List<ChatMessage>();
        if (!string.IsNullOrEmpty(system)) history.Add(new ChatMessage(ChatRole.System, system));
        int baseCount = history.Count;
        CancellationTokenSource? reply = null;
        ConsoleCancelEventHandler onCancel = (_, e) => { if (reply is { } r) { e.Cancel = true; r.Cancel(); } };
        Console.CancelKeyPress += onCancel;
        try
        {
            while (true)
            {
                if (interactive) Console.Write("> ");
                var line = Console.ReadLine();
                if (line is null || line.Trim() == "/exit") return 0;
                if (line.Trim() == "/reset")
                {
                    history.RemoveRange(baseCount, history.Count - baseCount);
                    chat.ResetCache();
                    Console.Error.WriteLine("qspec chat: conversation reset.");
                    continue;
                }
                if (line.Trim().Length == 0) continue;
                history.Add(new ChatMessage(ChatRole.User, line));
                using var cts = new CancellationTokenSource();
                reply = cts;
                var text = new System.Text.StringBuilder();
                try
                {
                    foreach (var update in Stream(chat, history, cts.Token)) { Console.Write(update); text.Append(update); }
                    Console.WriteLine();
                    history.Add(new ChatMessage(ChatRole.Assistant, text.ToString()));
                    Console.Error.WriteLine(StatsLine(chat.LastResult!));
                }
                catch (OperationCanceledException)
                {
                    Console.WriteLine();
                    Console.Error.WriteLine("qspec chat: reply stopped.");
                    history.Add(new ChatMessage(ChatRole.Assistant, text.ToString()));
                }
                finally { reply = null; }
            }
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    /// <summary>The reply as text pieces, blocking on the asynchronous stream (the REPL is synchronous).</summary>
    private static IEnumerable<string> Stream(QSpecChatClient chat, List<ChatMessage> history, CancellationToken ct)
    {
        var e = chat.GetStreamingResponseAsync(history, null, ct).GetAsyncEnumerator(ct);
        try
        {
            while (e.MoveNextAsync().AsTask().GetAwaiter().GetResult())
                if (e.Current.Text is { Length: > 0 } t) yield return t;
        }
        finally { e.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
    }

    /// <summary>One line: tokens, speed, cache reuse and (QSpec) acceptance.</summary>
    internal static string StatsLine(TextGenerationResult r)
    {
        double s = r.Elapsed.TotalSeconds;
        var line = $"[{r.Tokens.Count} tokens, {(s > 0 ? r.Tokens.Count / s : 0):F1} tok/s, prompt {r.PromptTokens} ({r.ReusedPromptTokens} cached), {r.FinishReason.ToString().ToLowerInvariant()}";
        if (r.Statistics is { Drafted: > 0 } st) line += $", acceptance {st.AcceptanceRate:P0}, mean accepted {st.MeanAcceptedLength:F2}";
        return line + "]";
    }

    private static SamplingOptions CliSampling(float temperature, float topP, int topK, float minP, float repeat, int? seed)
    {
        var s = new SamplingOptions { Temperature = temperature, TopP = topP, TopK = topK, MinP = minP, RepetitionPenalty = repeat, Seed = seed };
        try { s.Validate(); }
        catch (ArgumentOutOfRangeException e)
        {
            var option = e.ParamName switch
            {
                "Temperature" => "--temperature", "TopP" => "--top-p", "TopK" => "--top-k", "MinP" => "--min-p", "RepetitionPenalty" => "--repeat-penalty", _ => e.ParamName,
            };
            throw new ArgumentException($"{option} {e.ActualValue} is out of range: {e.Message.Split(" (Parameter")[0]}", option);
        }
        return s;
    }

    private static ChatFormat ParseTemplate(string name) => name == "plain" ? ChatFormat.Plain
        : BuiltInChatFormat.FamilyOfName(name) is { } f ? ChatFormat.For(f)
        : throw new ArgumentException($"Unknown --template '{name}'; use plain, chatml, llama2, llama2-sys, llama2-sys-bos, llama2-sys-strip, llama3, zephyr, mistral-v1, mistral-v3, mistral-v3-tekken, mistral-v7, gemma or phi3.", "--template");
}
