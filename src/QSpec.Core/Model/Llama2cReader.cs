using System.Runtime.InteropServices;

namespace QSpec.Model;

/// <summary>
/// Reads llama2.c fp32 checkpoints into <see cref="LlamaWeights"/>: the legacy version-0 layout
/// (7 int32 header, negative vocab = separate classifier, legacy freq_cis block) and the version-1 layout
/// (magic "ak42", version 1, 256-byte header with a shared-classifier flag).
/// </summary>
/// <remarks>
/// Every size is checked against the file length before anything is allocated, so a garbled header fails with
/// <see cref="InvalidDataException"/> (naming the file and the field) rather than a huge allocation. Tensors are
/// streamed straight into their final arrays: one copy, in ordinary memory, where the kernels read fastest.
/// </remarks>
public static class Llama2cReader
{
    /// <summary>"ak42" little-endian, the version-1 magic.</summary>
    public const uint Magic = 0x616b3432;
    private const int LegacyHeaderBytes = 7 * sizeof(int);
    private const int Version1HeaderBytes = 256;

    /// <summary>Reads only the header of <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The header is inconsistent with the file.</exception>
    public static LlamaConfig ReadConfig(string path)
    {
        using var stream = Open(path);
        return ReadHeader(stream, path).Config;
    }

    /// <summary>Reads a whole checkpoint.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The header or the file length is wrong.</exception>
    public static LlamaWeights Read(string path)
    {
        using var s = Open(path);
        return Read(s, path);
    }

    /// <summary>Reads a whole checkpoint from a seekable stream positioned at its start; <paramref name="path"/> names it in messages.</summary>
    internal static LlamaWeights Read(Stream s, string path)
    {
        var (config, version, dataStart) = ReadHeader(s, path);
        s.Position = dataStart;
        int d = config.Dim, h = config.HiddenDim, kv = config.KvDim, v = config.VocabSize, n = config.Layers;
        float[] Tensor(long count) { var a = GC.AllocateUninitializedArray<float>(checked((int)count), pinned: true); s.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan())); return a; }
        float[][] PerLayer(long count) { var r = new float[n][]; for (int i = 0; i < n; i++) r[i] = Tensor(count); return r; }

        float[] embedding; float[][] attNorm, ffnNorm, wq, wk, wv, wo, w1, w2, w3; float[] finalNorm; float[]? cls = null;
        if (version == 0)
        {
            embedding = Tensor((long)v * d);
            attNorm = PerLayer(d); wq = PerLayer((long)d * d); wk = PerLayer((long)kv * d); wv = PerLayer((long)kv * d);
            wo = PerLayer((long)d * d); ffnNorm = PerLayer(d); w1 = PerLayer((long)h * d); w2 = PerLayer((long)d * h);
            w3 = PerLayer((long)h * d); finalNorm = Tensor(d);
            s.Seek((long)config.SeqLen * config.HeadSize * sizeof(float), SeekOrigin.Current); // legacy freq_cis, unused
        }
        else
        {
            attNorm = PerLayer(d); ffnNorm = PerLayer(d); finalNorm = Tensor(d); embedding = Tensor((long)v * d);
            wq = PerLayer((long)d * d); wk = PerLayer((long)kv * d); wv = PerLayer((long)kv * d); wo = PerLayer((long)d * d);
            w1 = PerLayer((long)h * d); w2 = PerLayer((long)d * h); w3 = PerLayer((long)h * d);
        }
        if (!config.SharedClassifier) cls = Tensor((long)v * d);

        var layers = new LayerWeights[n];
        for (int i = 0; i < n; i++)
            layers[i] = new LayerWeights(attNorm[i], LinearWeight.FromDense(wq[i], d, d), LinearWeight.FromDense(wk[i], kv, d),
                LinearWeight.FromDense(wv[i], kv, d), LinearWeight.FromDense(wo[i], d, d), ffnNorm[i],
                LinearWeight.FromDense(w1[i], h, d), LinearWeight.FromDense(w2[i], d, h), LinearWeight.FromDense(w3[i], h, d));
        return new LlamaWeights(config, embedding, layers, finalNorm, LinearWeight.FromDense(cls ?? embedding, v, d));
    }

    private static FileStream Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file not found: '{path}'.", path);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
    }

    private static (LlamaConfig Config, int Version, long DataStart) ReadHeader(Stream s, string path)
    {
        long length = s.Length;
        if (length < LegacyHeaderBytes) throw Bad(path, "header", $"the file has {length} bytes, fewer than the {LegacyHeaderBytes}-byte header");
        Span<byte> head = stackalloc byte[Version1HeaderBytes];
        int got = s.ReadAtLeast(head, Math.Min((int)Math.Min(length, Version1HeaderBytes), Version1HeaderBytes), throwOnEndOfStream: false);
        var ints = MemoryMarshal.Cast<byte, int>(head[..(got / 4 * 4)]);
        int version; int p; long dataStart; bool shared;
        if ((uint)ints[0] == Magic)
        {
            if (got < Version1HeaderBytes) throw Bad(path, "header", $"a version-1 header needs {Version1HeaderBytes} bytes, the file has {length}");
            version = ints[1];
            if (version != 1) throw Bad(path, "version", $"version {version} is not supported (only fp32 versions 0 and 1)");
            p = 2; dataStart = Version1HeaderBytes; shared = head[4 * 9] != 0;
        }
        else
        {
            version = 0; p = 0; dataStart = LegacyHeaderBytes; shared = ints[5] > 0;
        }
        string[] names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];
        var f = new int[7];
        for (int i = 0; i < 7; i++)
        {
            // Version 0 stores a separate classifier as a negative vocab_size; int.MinValue has no magnitude, so range-check
            // the raw value before taking it (Math.Abs(int.MinValue) throws OverflowException).
            long raw = ints[p + i];
            f[i] = (int)Math.Clamp(i == 5 && version == 0 ? Math.Abs(raw) : raw, int.MinValue, int.MaxValue);
            if (f[i] <= 0 || f[i] > LlamaConfig.MaxDimension)
                throw Bad(path, names[i], $"value {ints[p + i]} is out of range 1..{LlamaConfig.MaxDimension}");
        }
        LlamaConfig config;
        try { config = new LlamaConfig(f[0], f[1], f[2], f[3], f[4], f[5], f[6], shared).Validate(); }
        catch (ArgumentException e)
        {
            int field = Array.IndexOf(["Dim", "HiddenDim", "Layers", "Heads", "KvHeads", "VocabSize", "SeqLen"], e.ParamName);
            throw Bad(path, field >= 0 ? names[field] : "header", e.Message);
        }

        // Dimensions up to 2^20 make products up to 2^60 per tensor and far more in total, so the sum is taken in
        // 128 bits: a wrapped 64-bit sum can equal a small file's length (a crafted 28-byte header did) and pass.
        UInt128 d = (uint)config.Dim, h = (uint)config.HiddenDim, kv = (uint)config.KvDim, v = (uint)config.VocabSize, n = (uint)config.Layers;
        UInt128 floats = v * d + n * (2 * d + 2 * d * d + 2 * kv * d + 3 * h * d) + d + (shared ? 0 : v * d);
        if (version == 0) floats += (UInt128)(uint)config.SeqLen * (uint)config.HeadSize;
        UInt128 expected = (UInt128)dataStart + floats * sizeof(float);
        if (expected != (UInt128)length)
            throw Bad(path, "file length", $"the header (dim={d}, hidden_dim={h}, n_layers={n}, n_heads={config.Heads}, n_kv_heads={config.KvHeads}, vocab_size={v}, seq_len={config.SeqLen}, shared_classifier={shared}) implies {expected} bytes, the file has {length}");
        // The length matches, so every tensor is smaller than the file; still, an array holds at most Array.MaxLength floats.
        if (v * d > (UInt128)Array.MaxLength || h * d > (UInt128)Array.MaxLength)
            throw Bad(path, "vocab_size", $"a tensor of {v * d} or {h * d} floats is larger than .NET arrays allow");
        return (config, version, dataStart);
    }

    private static InvalidDataException Bad(string path, string field, string detail)
        => new($"Invalid llama2.c checkpoint '{path}', field '{field}': {detail}.");
}
