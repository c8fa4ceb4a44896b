namespace QSpec.Model.Gguf;

/// <summary>The ggml tensor types this library knows by number (GGUF <c>ggml_type</c>).</summary>
internal enum GgufTensorType : uint
{
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
}

/// <summary>GGUF metadata value types (<c>gguf_type</c>).</summary>
internal enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>Block geometry of the tensor types the reader decodes.</summary>
internal static class GgufTypes
{
    /// <summary>Elements per block and bytes per block of <paramref name="type"/>, or (0, 0) when this reader cannot decode it.</summary>
    /// <remarks>
    /// Q4_0 block (18 bytes, 32 values): fp16 d, then 16 bytes qs; value j = ((qs[j] &amp; 15) − 8)·d and value j + 16 =
    /// ((qs[j] &gt;&gt; 4) − 8)·d for j &lt; 16. Q8_0 block (34 bytes, 32 values): fp16 d, then 32 int8 q; value j = q[j]·d.
    /// The k-quants (Q4_K, Q6_K, ...) and the other legacy and i-quant types are rejected on load with a message naming the type.
    /// </remarks>
    public static (int BlockElements, int BlockBytes) Geometry(GgufTensorType type) => type switch
    {
        GgufTensorType.F32 => (1, 4),
        GgufTensorType.F16 => (1, 2),
        GgufTensorType.BF16 => (1, 2),
        GgufTensorType.Q4_0 => (32, 18),
        GgufTensorType.Q8_0 => (32, 34),
        _ => (0, 0),
    };

    /// <summary>The types <see cref="Geometry"/> knows, for messages.</summary>
    public const string Supported = "F32, F16, BF16, Q8_0 and Q4_0";

    /// <summary>A type's name for messages: "Q4_K", or "type 99" when unknown.</summary>
    public static string Name(GgufTensorType type) => Enum.IsDefined(type) ? type.ToString() : $"type {(uint)type}";
}
