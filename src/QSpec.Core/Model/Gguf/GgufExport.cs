using System.Buffers.Binary;
using QSpec.Kernels.Formats;
using QSpec.Tokenization;

namespace QSpec.Model;

/// <summary>
/// Writes a model as a GGUF file (architecture llama, version 3) that llama.cpp and Ollama run as the same function:
/// INT4 matrices with G = 32 as Q4_0, float32 everything else (norms, the token embedding, matrices whose row length is
/// not a multiple of 32, which Q4_0 cannot hold: their INT4 values are written dequantized, exactly).
/// </summary>
/// <remarks>
/// <para><b>Exactness.</b> Q4_0 stores each block's scale as fp16 and the 4-bit code u, value (u − 8)·d; an
/// <see cref="Int4Matrix"/> with G = 32 stores (u − 8)·s with s float32. The export is exact when every s is an fp16
/// value, which <see cref="WithHalfPrecisionScales"/> ensures; <see cref="Write"/> refuses other scales rather than round them
/// silently.</para>
/// <para><b>Refused</b> (<see cref="ArgumentException"/> saying why): INT4 group sizes other than 32 (Q4_0 blocks are 32
/// columns), and models that apply an online Hadamard transform to the ffn_down input at run time
/// (<see cref="QuantizationInfo.FfnHadamardBlock"/> ≠ 0), which llama.cpp's llama graph does not compute. A rotation
/// folded entirely into the weights exports fine: it computes the same function.</para>
/// <para><b>Order.</b> attn_q/attn_k rows stay in this library's interleaved RoPE order, which is llama.cpp's.</para>
/// </remarks>
public static class GgufExport
{
    /// <summary>Writes <paramref name="weights"/> to <paramref name="path"/> (overwriting it).</summary>
    /// <param name="tokenizer">Written as <c>tokenizer.ggml.*</c> (SPM "llama" vocabulary), or null for none.</param>
    /// <param name="chatTemplate">Written as <c>tokenizer.chat_template</c>, or null.</param>
    /// <param name="name">general.name; default the file name without extension.</param>
    /// <exception cref="ArgumentException">The model cannot be written as a GGUF file llama.cpp computes identically; the message says why.</exception>
    public static void Write(string path, LlamaWeights weights, LlamaTextTokenizer? tokenizer = null, string? chatTemplate = null, string? name = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(weights);
        EnsureExportable(weights);
        var c = weights.Config;
        var w = new Gguf.GgufWriter()
            .Add("general.architecture", "llama")
            .Add("general.name", name ?? Path.GetFileNameWithoutExtension(path))
            .Add("general.file_type", weights.HasInt4 ? 2u : 0u) // LLAMA_FTYPE_MOSTLY_Q4_0 / ALL_F32
            .Add("general.quantization_version", 2u)
            .Add("llama.context_length", (uint)c.SeqLen)
            .Add("llama.embedding_length", (uint)c.Dim)
            .Add("llama.feed_forward_length", (uint)c.HiddenDim)
            .Add("llama.block_count", (uint)c.Layers)
            .Add("llama.attention.head_count", (uint)c.Heads)
            .Add("llama.attention.head_count_kv", (uint)c.KvHeads)
            .Add("llama.rope.dimension_count", (uint)c.HeadSize)
            .Add("llama.rope.freq_base", c.RopeTheta)
            .Add("llama.attention.layer_norm_rms_epsilon", c.NormEps);
        if (tokenizer is not null)
        {
            tokenizer.EnsureVocabularySize(c.VocabSize);
            var (pieces, scores, types) = tokenizer.SentencePieceVocabulary();
            w.Add("tokenizer.ggml.model", "llama").Add("tokenizer.ggml.tokens", pieces).Add("tokenizer.ggml.scores", scores)
             .Add("tokenizer.ggml.token_type", types).Add("tokenizer.ggml.unknown_token_id", 0u)
             .Add("tokenizer.ggml.bos_token_id", (uint)tokenizer.BosId).Add("tokenizer.ggml.eos_token_id", (uint)tokenizer.EosId)
             .Add("tokenizer.ggml.add_bos_token", true).Add("tokenizer.ggml.add_eos_token", false);
        }
        if (chatTemplate is not null) w.Add("tokenizer.chat_template", chatTemplate);

        w.AddTensor("token_embd.weight", [c.Dim, c.VocabSize], Gguf.GgufTensorType.F32, Gguf.GgufWriter.F32(weights.TokenEmbedding));
        for (int i = 0; i < c.Layers; i++)
        {
            var l = weights.Layers[i];
            string p = $"blk.{i}.";
            w.AddTensor(p + "attn_norm.weight", [c.Dim], Gguf.GgufTensorType.F32, Gguf.GgufWriter.F32(l.AttentionNorm));
            Linear(w, p + "attn_q.weight", l.Wq); Linear(w, p + "attn_k.weight", l.Wk); Linear(w, p + "attn_v.weight", l.Wv);
            Linear(w, p + "attn_output.weight", l.Wo);
            w.AddTensor(p + "ffn_norm.weight", [c.Dim], Gguf.GgufTensorType.F32, Gguf.GgufWriter.F32(l.FfnNorm));
            Linear(w, p + "ffn_gate.weight", l.W1); Linear(w, p + "ffn_down.weight", l.W2); Linear(w, p + "ffn_up.weight", l.W3);
        }
        w.AddTensor("output_norm.weight", [c.Dim], Gguf.GgufTensorType.F32, Gguf.GgufWriter.F32(weights.FinalNorm));
        bool tied = c.SharedClassifier && weights.Classifier.Int4 is null && ReferenceEquals(weights.Classifier.Dense, weights.TokenEmbedding);
        if (!tied) Linear(w, "output.weight", weights.Classifier);

        using var s = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        w.Write(s);
    }

    /// <summary>
    /// A copy whose INT4 scales are rounded to the nearest fp16 value (the INT4 codes are shared, unchanged), so that
    /// <see cref="Write"/> stores exactly these weights as Q4_0. Each weight moves by at most 8·|s|·2⁻¹¹.
    /// </summary>
    public static LlamaWeights WithHalfPrecisionScales(LlamaWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        static LinearWeight R(LinearWeight l) => l.Int4 is not { } m ? l
            : new LinearWeight(l.Rows, l.Columns, l.Dense, new Int4Matrix(m.Rows, m.Columns, m.GroupSize, m.Data, m.Scales.Select(x => (float)(Half)x).ToArray()));
        var layers = weights.Layers.Select(l => l with { Wq = R(l.Wq), Wk = R(l.Wk), Wv = R(l.Wv), Wo = R(l.Wo), W1 = R(l.W1), W2 = R(l.W2), W3 = R(l.W3) }).ToArray();
        return new LlamaWeights(weights.Config, weights.TokenEmbedding, layers, weights.FinalNorm, R(weights.Classifier), weights.Quantization);
    }

    /// <summary>Throws <see cref="ArgumentException"/> saying why <paramref name="weights"/> cannot be exported exactly.</summary>
    public static void EnsureExportable(LlamaWeights weights)
    {
        if (weights.Quantization is { FfnHadamardBlock: > 0 } q)
            throw new ArgumentException(
                $"This model applies an online Hadamard transform (block {q.FfnHadamardBlock}) to the ffn_down input at run time " +
                $"(rotation '{q.Rotation}'); llama.cpp's llama graph does not, so the GGUF would compute a different function. " +
                "Quantize without --rotate to export to GGUF.", nameof(weights));
        foreach (var (layer, l) in weights.LinearLayers())
        {
            if (l.Int4 is not { } m) continue;
            if (m.GroupSize != 32)
                throw new ArgumentException(
                    $"Layer {layer} has INT4 group size {(m.GroupSize == 0 ? "0 (per channel)" : m.GroupSize)}; GGUF Q4_0 has blocks of 32 columns. Quantize with --group-size 32.", nameof(weights));
            if (m.Columns % 32 != 0) continue; // written as F32, exactly
            for (int i = 0; i < m.Scales.Length; i++)
                if ((float)(Half)m.Scales[i] != m.Scales[i])
                    throw new ArgumentException(
                        $"Layer {layer} scale #{i} ({m.Scales[i]:R}) is not an fp16 value, and Q4_0 stores fp16 scales; " +
                        "round them first with GgufExport.WithHalfPrecisionScales (qspec quantize --out M.gguf does).", nameof(weights));
        }
    }

    private static void Linear(Gguf.GgufWriter w, string name, LinearWeight l)
    {
        long[] dims = [l.Columns, l.Rows];
        if (l.Int4 is { Columns: var k } m && k % 32 == 0) w.AddTensor(name, dims, Gguf.GgufTensorType.Q4_0, Q4_0(m));
        else w.AddTensor(name, dims, Gguf.GgufTensorType.F32, Gguf.GgufWriter.F32(l.Dense ?? l.Int4!.Dequantize()));
    }

    /// <summary>An Int4Matrix with G = 32 and K % 32 = 0 as Q4_0 blocks (the inverse of the reader's conversion).</summary>
    internal static byte[] Q4_0(Int4Matrix m)
    {
        int blocks = m.Columns / 32;
        var bytes = new byte[checked((long)m.Rows * blocks * 18)];
        for (int n = 0; n < m.Rows; n++)
            for (int b = 0; b < blocks; b++)
            {
                var block = bytes.AsSpan((int)(((long)n * blocks + b) * 18), 18);
                BinaryPrimitives.WriteHalfLittleEndian(block, (Half)m.Scales[n * m.GroupCount + b]);
                for (int j = 0; j < 16; j++)
                    block[2 + j] = (byte)((m.GetValue(n, 32 * b + j) + 8) | (m.GetValue(n, 32 * b + j + 16) + 8) << 4);
            }
        return bytes;
    }
}
