using System.CommandLine;
using System.Diagnostics;
using QSpec.Generation;
using QSpec.Model;
using QSpec.Quantization;

namespace QSpec.Cli;

/// <summary><c>qspec quantize</c>: a float32 llama2.c checkpoint to an INT4 .qspec file (RTN or GPTQ, optional rotation).</summary>
internal static class QuantizeCommand
{
    /// <summary>Default calibration: TinyStories paragraphs from this index on, disjoint from the first-200 evaluation set.</summary>
    public const int DefaultCalibrationSkip = 2000;

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Float model: GGUF (F32/F16/BF16), a Hugging Face folder or a llama2.c checkpoint. Default: the embedded stories260K." };
        var output = new Option<string>("--out") { Description = "Output .qspec file.", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer to embed and to encode calibration text. Default: beside the model." };
        var method = new Option<string>("--method") { Description = "rtn or gptq.", DefaultValueFactory = _ => "gptq" };
        var groupSize = new Option<int>("--group-size") { Description = "0 (per output channel), 32, 64 or 128.", DefaultValueFactory = _ => 64 };
        var rotate = new Option<bool>("--rotate") { Description = "QuaRot-style Hadamard rotation (norm folding, residual rotation, online Hadamard before w2)." };
        var clip = new Option<bool>("--clip-search") { Description = "Search a clip ratio per group (RTN and GPTQ).", DefaultValueFactory = _ => true };
        var calibration = new Option<string?>("--calibration") { Description = $"Calibration text (paragraphs). Default: TinyStories validation head, paragraphs {DefaultCalibrationSkip}+." };
        var calibrationCount = new Option<int>("--calibration-paragraphs") { Description = "Calibration paragraphs.", DefaultValueFactory = _ => 512 };
        var calibrationSkip = new Option<int>("--calibration-skip") { Description = "Paragraphs skipped before calibration starts.", DefaultValueFactory = _ => DefaultCalibrationSkip };
        var seed = new Option<int>("--seed") { Description = "Seed of the rotation.", DefaultValueFactory = _ => 0 };
        var cmd = new Command("quantize", "Quantize a float model to an INT4 .qspec file.");
        foreach (var o in new Option[] { model, output, tokenizer, method, groupSize, rotate, clip, calibration, calibrationCount, calibrationSkip, seed }) cmd.Options.Add(o);
        cmd.SetAction(r =>
        {
            var m = r.GetValue(method)!.ToLowerInvariant() switch
            {
                "rtn" => QuantizationMethod.Rtn,
                "gptq" => QuantizationMethod.Gptq,
                var other => throw new ArgumentException($"Unknown --method '{other}'; use rtn or gptq.", "--method"),
            };
            var options = new QuantizerOptions
            {
                Method = m, GroupSize = r.GetValue(groupSize), Rotate = r.GetValue(rotate), ClipSearch = r.GetValue(clip), Seed = r.GetValue(seed),
            };
            options.Validate();
            var calibrationFile = r.GetValue(calibration);
            if (calibrationFile is not null && !File.Exists(calibrationFile))
                throw new ArgumentException($"Calibration file not found: '{calibrationFile}'.", "--calibration");
            var modelPath = r.GetValue(model);
            var contents = ModelLoading.Read(modelPath, r.GetValue(tokenizer));
            var weights = contents.Weights;
            if (!weights.HasDense)
                throw new ArgumentException($"'{ModelLoading.DisplayName(modelPath)}' is already quantized; quantize takes a float model (F32, F16 or BF16).", "--model");
            var tok = contents.Tokenizer!;
            IReadOnlyList<IReadOnlyList<int>>? sequences = null;
            if (m == QuantizationMethod.Gptq)
            {
                var paragraphs = Perplexity.ReadParagraphs(calibrationFile ?? SharedData.PathOf("data", "tinystories-valid", "tinystories_valid_head.txt"))
                    .Skip(r.GetValue(calibrationSkip)).Take(r.GetValue(calibrationCount)).ToArray();
                if (paragraphs.Length == 0) throw new ArgumentException("No calibration paragraphs left after --calibration-skip.", "--calibration-skip");
                sequences = paragraphs.Select(p => tok.Encode(p, addBos: true).Take(weights.Config.SeqLen).ToArray()).ToArray();
            }
            var clock = Stopwatch.StartNew();
            var progress = new ProgressBar(Console.Error);
            var quantized = ModelQuantizer.Quantize(weights, options, sequences, progress.Report);
            progress.Done();
            var outPath = r.GetValue(output)!;
            QSpecFile.Write(outPath, quantized, tok.SourceBytes);
            Console.Error.WriteLine($"qspec: wrote {outPath} ({new FileInfo(outPath).Length / 1024.0:F0} KiB, {options.MethodName}, group {options.GroupSize}, rotate {options.Rotate}) in {clock.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return cmd;
    }
}

/// <summary>A one-line progress display on stderr: a bar over the linear layers, with the latest message.</summary>
internal sealed class ProgressBar(TextWriter writer)
{
    private int _count;

    public void Report(string message)
    {
        _count++;
        if (Console.IsErrorRedirected) { writer.WriteLine($"  {message}"); return; }
        int filled = _count % 31;
        var line = $"[{new string('#', filled)}{new string('.', 30 - filled)}] {message}";
        writer.Write("\r" + (line.Length > 110 ? line[..110] : line.PadRight(110)));
    }

    public void Done()
    {
        if (!Console.IsErrorRedirected) writer.WriteLine();
    }
}
