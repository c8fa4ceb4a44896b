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

    private static string OnOff(bool value) => value ? "on" : "off";

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Float model: GGUF (F32/F16/BF16), a Hugging Face folder or a llama2.c checkpoint. Default: the embedded stories260K." };
        var output = new Option<string>("--out") { Description = "Output file: .qspec (this library's format), or .gguf (Q4_0 for llama.cpp and Ollama; needs --group-size 32, no --rotate).", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer to embed and to encode calibration text. Default: beside the model." };
        var method = new Option<string>("--method") { Description = "rtn or gptq.", DefaultValueFactory = _ => new QuantizerOptions().Method.ToString().ToLowerInvariant() };
        var groupSize = new Option<int>("--group-size") { Description = "0 (per output channel), 32, 64 or 128.", DefaultValueFactory = _ => new QuantizerOptions().GroupSize };
        var rotate = new Option<bool>("--rotate")
        {
            Description = "QuaRot-style Hadamard rotation (norm folding, residual rotation, online Hadamard before w2). Default: " + OnOff(new QuantizerOptions().Rotate) + " (off for .gguf output); --rotate false turns it off.",
            DefaultValueFactory = _ => new QuantizerOptions().Rotate,
        };
        var clip = new Option<bool>("--clip-search") { Description = "Search a clip ratio per group (RTN and GPTQ). Default: " + OnOff(new QuantizerOptions().ClipSearch) + "; --clip-search false turns it off.", DefaultValueFactory = _ => new QuantizerOptions().ClipSearch };
        var calibration = new Option<string?>("--calibration") { Description = $"Calibration text (paragraphs). Default: TinyStories validation head, paragraphs {DefaultCalibrationSkip}+." };
        var calibrationCount = new Option<int>("--calibration-paragraphs") { Description = "Calibration paragraphs.", DefaultValueFactory = _ => 512 };
        var calibrationSkip = new Option<int>("--calibration-skip") { Description = "Paragraphs skipped before calibration starts.", DefaultValueFactory = _ => DefaultCalibrationSkip };
        var seed = new Option<int>("--seed") { Description = "Seed of the rotation.", DefaultValueFactory = _ => 0 };
        var cmd = new Command("quantize", "Quantize a float model to an INT4 .qspec or GGUF Q4_0 file.");
        foreach (var o in new Option[] { model, output, tokenizer, method, groupSize, rotate, clip, calibration, calibrationCount, calibrationSkip, seed }) cmd.Options.Add(o);
        cmd.SetAction(r =>
        {
            var m = r.GetValue(method)!.ToLowerInvariant() switch
            {
                "rtn" => QuantizationMethod.Rtn,
                "gptq" => QuantizationMethod.Gptq,
                var other => throw new ArgumentException($"Unknown --method '{other}'; use rtn or gptq.", "--method"),
            };
            var outPath = r.GetValue(output)!;
            bool gguf = outPath.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase);
            // Rotation is on by default (as QuantizerOptions), except for GGUF output, which cannot hold the online Hadamard.
            bool rotateValue = r.GetResult(rotate) is null or { Implicit: true } ? !gguf && r.GetValue(rotate) : r.GetValue(rotate);
            var options = new QuantizerOptions
            {
                Method = m, GroupSize = r.GetValue(groupSize), Rotate = rotateValue, ClipSearch = r.GetValue(clip), Seed = r.GetValue(seed),
            };
            options.Validate();
            if (gguf && options.GroupSize != 32)
                throw new ArgumentException($"--group-size {options.GroupSize} cannot be written as GGUF Q4_0, whose blocks are 32 columns: use --group-size 32.", "--group-size");
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
                var paragraphs = Perplexity.ReadParagraphs(calibrationFile ?? SharedData.TinyStoriesValid)
                    .Skip(r.GetValue(calibrationSkip)).Take(r.GetValue(calibrationCount)).ToArray();
                if (paragraphs.Length == 0) throw new ArgumentException("No calibration paragraphs left after --calibration-skip.", "--calibration-skip");
                sequences = paragraphs.Select(p => tok.Encode(p, addBos: true).Take(weights.Config.SeqLen).ToArray()).ToArray();
            }
            var clock = Stopwatch.StartNew();
            var progress = ProgressDisplay.OnStderr("quantize", weights.LinearLayers().Count());
            var quantized = ModelQuantizer.Quantize(weights, options, sequences,
                message => { if (message.StartsWith("quantizing ", StringComparison.Ordinal)) progress.Step(message); else progress.Note(message); });
            progress.Finish();
            if (gguf)
            {
                // Q4_0 stores fp16 scales: round them now, so the file holds exactly the model this run produced.
                quantized = GgufExport.WithHalfPrecisionScales(quantized);
                GgufExport.Write(outPath, quantized, tok, contents.ChatTemplate);
            }
            else QSpecFile.Write(outPath, quantized, tok.SourceBytes);
            Console.Error.WriteLine($"qspec: wrote {outPath} ({new FileInfo(outPath).Length / 1024.0:F0} KiB, {options.MethodName}, group {options.GroupSize}, rotate {options.Rotate}) in {clock.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return cmd;
    }
}

