using System.Runtime.CompilerServices;

namespace QSpec.Kernels.Formats;

/// <summary>
/// A weight matrix W[N, K] (N output channels, K input columns) in symmetric signed INT4, the one
/// quantized format of QSpec.NET. Both execution modes (W4A16 and W4A4/W4A8) read this same object.
/// </summary>
/// <remarks>
/// <para><b>Values.</b> w[n, k] = q[n, k] · scale[n, g(k)], with q an integer in [-8, 7].</para>
/// <para><b>Nibbles.</b> Each q is stored as the offset-binary nibble u = q + 8 in [0, 15], so unpacking is a
/// mask or shift with no sign extension, and integer kernels can use unsigned×signed dot products
/// (vpdpbusd) followed by the correction Σ q·a = Σ u·a − 8·Σ a.</para>
/// <para><b>Blocks.</b> A row is padded with zeros (u = 8) to <see cref="PaddedColumns"/> = K rounded up to 64 and
/// split into blocks of 64 columns stored in 32 bytes. In block b, byte i (0 ≤ i &lt; 32) holds column
/// 64b + i in its low nibble and column 64b + 32 + i in its high nibble (the ggml Q4_0 order): one 32-byte
/// load, a mask and a shift give 64 consecutive columns in two registers.</para>
/// <para><b>Groups.</b> Scales are per output channel (<see cref="GroupSize"/> = 0: one group of K columns) or per
/// group of G ∈ {32, 64, 128} consecutive input columns. When G does not divide K, the last group is the
/// remainder (K mod G columns) and has its own scale; e.g. K = 172, G = 64 gives groups of 64, 64 and 44.
/// Scales are stored row-major: scale[n, g] at <c>Scales[n * GroupCount + g]</c>.</para>
/// <para><b>Size.</b> <see cref="Data"/> is exactly N · PaddedColumns / 2 bytes and <see cref="Scales"/> exactly N · GroupCount floats
/// (checked in the constructor).</para>
/// </remarks>
public sealed class Int4Matrix
{
    /// <summary>Columns per packed block.</summary>
    public const int BlockColumns = 64;
    /// <summary>Bytes per packed block (two nibbles per byte).</summary>
    public const int BlockBytes = BlockColumns / 2;
    /// <summary>Smallest stored integer value.</summary>
    public const int MinValue = -8;
    /// <summary>Largest stored integer value.</summary>
    public const int MaxValue = 7;
    /// <summary>The offset added to a value to form its nibble.</summary>
    public const int NibbleOffset = 8;

    /// <summary>Creates a matrix over existing packed data and scales (no copy).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive or the group size is unsupported.</exception>
    /// <exception cref="ArgumentException">The buffers do not have the documented sizes.</exception>
    public Int4Matrix(int rows, int columns, int groupSize, byte[] data, float[] scales)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        ValidateGroupSize(groupSize);
        Rows = rows;
        Columns = columns;
        GroupSize = groupSize;
        PaddedColumns = PadColumns(columns);
        GroupCount = groupSize == 0 ? 1 : (columns + groupSize - 1) / groupSize;
        long expectedBytes = (long)rows * PaddedColumns / 2;
        if (data.LongLength != expectedBytes)
            throw new ArgumentException($"Packed data has {data.LongLength} bytes; a {rows}x{columns} INT4 matrix needs {expectedBytes}.", nameof(data));
        if (scales.LongLength != (long)rows * GroupCount)
            throw new ArgumentException($"Scales have {scales.LongLength} entries; {rows} rows x {GroupCount} groups need {(long)rows * GroupCount}.", nameof(scales));
        Data = data;
        Scales = scales;
    }

    /// <summary>N, the number of output channels.</summary>
    public int Rows { get; }
    /// <summary>K, the number of input columns.</summary>
    public int Columns { get; }
    /// <summary>K rounded up to a multiple of <see cref="BlockColumns"/>; padded columns hold zero.</summary>
    public int PaddedColumns { get; }
    /// <summary>Input columns per scale; 0 means one scale per output channel.</summary>
    public int GroupSize { get; }
    /// <summary>Scales per row: 1 per channel, else ceil(K / G).</summary>
    public int GroupCount { get; }
    /// <summary>Bytes per packed row.</summary>
    public int RowBytes => PaddedColumns / 2;
    /// <summary>The effective group width in columns (K for per-channel).</summary>
    public int EffectiveGroupSize => GroupSize == 0 ? Columns : GroupSize;
    /// <summary>Packed nibbles, <see cref="RowBytes"/> per row, in the block order documented on the type.</summary>
    public byte[] Data { get; }
    /// <summary>Scales, <see cref="GroupCount"/> per row, row-major.</summary>
    public float[] Scales { get; }
    /// <summary>Bytes held by the packed data plus the scales.</summary>
    public long SizeInBytes => Data.LongLength + Scales.LongLength * sizeof(float);

    /// <summary>K rounded up to a whole number of 64-column blocks.</summary>
    public static int PadColumns(int columns) => (columns + BlockColumns - 1) / BlockColumns * BlockColumns;

    /// <summary>Throws unless <paramref name="groupSize"/> is 0 (per channel), 32, 64 or 128.</summary>
    public static void ValidateGroupSize(int groupSize)
    {
        if (groupSize is not (0 or 32 or 64 or 128))
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "Group size must be 0 (per output channel), 32, 64 or 128.");
    }

    /// <summary>Byte offset within a row of column <paramref name="k"/>, and whether it is the high nibble.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (int ByteIndex, bool High) Locate(int k)
    {
        int block = k / BlockColumns, within = k % BlockColumns;
        return (block * BlockBytes + (within & 31), within >= 32);
    }

    /// <summary>The integer value q[n, k] in [-8, 7] (scalar reference accessor).</summary>
    public int GetValue(int n, int k)
    {
        var (b, high) = Locate(k);
        int packed = Data[(long)n * RowBytes + b];
        return (high ? packed >> 4 : packed & 0xF) - NibbleOffset;
    }

    /// <summary>The scale of row <paramref name="n"/> for column <paramref name="k"/>.</summary>
    public float GetScale(int n, int k) => Scales[n * GroupCount + (GroupSize == 0 ? 0 : k / GroupSize)];

    /// <summary>Sets q[n, k]; <paramref name="value"/> must be in [-8, 7].</summary>
    public void SetValue(int n, int k, int value)
    {
        if ((uint)(value - MinValue) > MaxValue - MinValue)
            throw new ArgumentOutOfRangeException(nameof(value), value, "INT4 values are in [-8, 7].");
        var (b, high) = Locate(k);
        ref byte slot = ref Data[(long)n * RowBytes + b];
        int u = value + NibbleOffset;
        slot = high ? (byte)((slot & 0x0F) | (u << 4)) : (byte)((slot & 0xF0) | u);
    }

    /// <summary>An all-zero matrix (every nibble 8) with unit scales, to be filled by a quantizer.</summary>
    public static Int4Matrix CreateZero(int rows, int columns, int groupSize)
    {
        ValidateGroupSize(groupSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        int groups = groupSize == 0 ? 1 : (columns + groupSize - 1) / groupSize;
        var data = GC.AllocateUninitializedArray<byte>(checked(rows * PadColumns(columns) / 2), pinned: true);
        data.AsSpan().Fill(0x88);
        var scales = new float[checked(rows * groups)];
        scales.AsSpan().Fill(1f);
        return new Int4Matrix(rows, columns, groupSize, data, scales);
    }

    /// <summary>
    /// Scalar reference quantizer (round to nearest): per group, scale = absmax / 7 and
    /// q = clamp(round_even(w / scale), -8, 7). An all-zero group gets scale 0 and q = 0.
    /// <paramref name="clipRatio"/> in (0, 1] shrinks absmax before the scale is formed (RTN clip search).
    /// </summary>
    /// <param name="weights">W[N, K] row-major, N·K floats.</param>
    public static Int4Matrix Quantize(ReadOnlySpan<float> weights, int rows, int columns, int groupSize, float clipRatio = 1f)
    {
        if (!(clipRatio > 0f && clipRatio <= 1f))
            throw new ArgumentOutOfRangeException(nameof(clipRatio), clipRatio, "Clip ratio must be in (0, 1].");
        return Quantize(weights, rows, columns, groupSize, group =>
        {
            float absMax = 0f;
            foreach (float v in group) absMax = MathF.Max(absMax, MathF.Abs(v));
            return absMax * clipRatio / MaxValue;
        });
    }

    /// <summary>Chooses the scale of one group (the values of one output row in one run of columns).</summary>
    public delegate float GroupScaleChooser(ReadOnlySpan<float> group);

    /// <summary>
    /// Quantizes W[N, K] group by group with the scale <paramref name="chooseScale"/> picks for each group, then
    /// q = <see cref="QuantizeValue"/>(w, scale). The one group loop of every round-to-nearest quantizer.
    /// </summary>
    public static Int4Matrix Quantize(ReadOnlySpan<float> weights, int rows, int columns, int groupSize, GroupScaleChooser chooseScale)
    {
        ArgumentNullException.ThrowIfNull(chooseScale);
        if (weights.Length != (long)rows * columns)
            throw new ArgumentException($"Expected {(long)rows * columns} weights for {rows}x{columns}, got {weights.Length}.", nameof(weights));
        var m = CreateZero(rows, columns, groupSize);
        int g = m.EffectiveGroupSize;
        for (int n = 0; n < rows; n++)
        {
            var row = weights.Slice(n * columns, columns);
            for (int gi = 0; gi < m.GroupCount; gi++)
            {
                int start = gi * g, end = Math.Min(columns, start + g);
                float scale = chooseScale(row[start..end]);
                m.Scales[n * m.GroupCount + gi] = scale;
                for (int k = start; k < end; k++)
                    m.SetValue(n, k, QuantizeValue(row[k], scale));
            }
        }
        return m;
    }

    /// <summary>q = clamp(round_even(w / scale), -8, 7); 0 when scale is 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int QuantizeValue(float w, float scale)
        => scale == 0f ? 0 : (int)Math.Clamp(MathF.Round(w / scale), MinValue, MaxValue);

    /// <summary>Scalar reference dequantizer: W[N, K] row-major as floats.</summary>
    public float[] Dequantize()
    {
        var w = new float[(long)Rows * Columns];
        for (int n = 0; n < Rows; n++)
            for (int k = 0; k < Columns; k++)
                w[(long)n * Columns + k] = GetValue(n, k) * GetScale(n, k);
        return w;
    }
}
