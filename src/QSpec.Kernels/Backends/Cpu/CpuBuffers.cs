using QSpec.Kernels.Formats;

namespace QSpec.Kernels.Backends.Cpu;

/// <summary>A host buffer: float32 in <see cref="Data"/>, or half precision in <see cref="HalfData"/> for an FP16 KV cache.</summary>
internal sealed class CpuBuffer : DeviceBuffer
{
    internal CpuBuffer(long length, KvPrecision precision = KvPrecision.Float32) : base(length)
    {
        Precision = precision;
        if (precision == KvPrecision.Float16) HalfData = new Half[checked((int)length)];
        else Data = GC.AllocateArray<float>(checked((int)length), pinned: true);
    }

    /// <summary>Element type.</summary>
    public KvPrecision Precision { get; }
    /// <summary>Float32 storage (null for FP16 buffers).</summary>
    public float[]? Data { get; private set; }
    /// <summary>Half storage (null for float32 buffers).</summary>
    public Half[]? HalfData { get; private set; }

    /// <summary>The float32 storage as a span.</summary>
    public Span<float> Span => Data ?? throw new InvalidOperationException("This buffer holds FP16 values.");

    /// <inheritdoc />
    protected override void DisposeCore() { Data = null; HalfData = null; }
}

/// <summary>A CPU weight handle: references to the INT4 matrix and/or the dense array, never a copy.</summary>
internal sealed class CpuMatrix : DeviceMatrix
{
    internal CpuMatrix(Int4Matrix? int4, float[]? dense, int rows, int columns)
        : base(rows, columns, int4 is not null, dense is not null)
    {
        Int4 = int4;
        Dense = dense;
        ScalesAreHalf = int4 is not null && HalfScales.AreExact(int4.Scales);
    }

    /// <summary>
    /// Every INT4 scale is a finite fp16 value, so the kernels may read the scales as fp16 bits (<see cref="HalfScales"/>)
    /// and give the same bits as with fp32 ones. Checked once here: the weights are immutable once uploaded.
    /// </summary>
    public bool ScalesAreHalf { get; }

    /// <summary>The INT4 weights, shared with every mode.</summary>
    public Int4Matrix? Int4 { get; }
    /// <summary>Dense W[N, K] (Fp32 mode).</summary>
    public float[]? Dense { get; }

    // The lazily built views below are read through their field first: the lambda handed to LazyInitializer captures
    // `this`, so building the delegate on every read allocated on every linear call.
    private float[]? _denseTails;

    /// <summary>
    /// Each dense row's partial last 64-column block, zero padded: row j's columns [64·⌊K/64⌋, K) at j · 64, then zeros;
    /// null when K is a multiple of 64. The float kernels read whole blocks; built once here (N · 64 floats), no row's
    /// tail is copied per call. The AVX2 kernel's partial 32-column half is inside the same slot (see <see cref="DenseTailHalf"/>).
    /// </summary>
    internal float[]? DenseTails => Columns % Int4Matrix.BlockColumns == 0 ? null : _denseTails ?? LazyInitializer.EnsureInitialized(ref _denseTails, () =>
    {
        var w = Dense!;
        int k = Columns, full = k / Int4Matrix.BlockColumns * Int4Matrix.BlockColumns;
        var t = GC.AllocateArray<float>(Rows * Int4Matrix.BlockColumns, pinned: true);
        for (int j = 0; j < Rows; j++)
            w.AsSpan(j * k + full, k - full).CopyTo(t.AsSpan(j * Int4Matrix.BlockColumns));
        return t;
    });

    /// <summary>Offset in a row's <see cref="DenseTails"/> slot of its first partial 32-column half: 0 or 32.</summary>
    internal int DenseTailHalf => Columns / 32 * 32 - Columns / Int4Matrix.BlockColumns * Int4Matrix.BlockColumns;

    private ushort[]? _halfScaleBits;

    /// <summary>
    /// The INT4 scales as fp16 bits in their own order (scale[n, g] at n · GroupCount + g, then 16 padding entries so
    /// a 16-lane load never leaves the array), for the W4A16 kernel's fp16 path; null unless <see cref="ScalesAreHalf"/>.
    /// Built on first use (pinned, N · GroupCount · 2 bytes): the fp32 scales stay, the other paths read them.
    /// </summary>
    internal ushort[]? HalfScaleBits => !ScalesAreHalf ? null
        : _halfScaleBits ?? LazyInitializer.EnsureInitialized(ref _halfScaleBits, () => HalfScales.ToBits(Int4!.Scales, padding: 16));

    private float[]? _tiledScales;

    /// <summary>
    /// The INT4 scales regrouped for the integer kernels, which work on four output channels at once:
    /// entry [t, g, c] = scale[4t + c, g] at <c>(t · GroupCount + g) · 4 + c</c>; channels past N get 0. Built on first use.
    /// </summary>
    internal float[] TiledScales => _tiledScales ?? LazyInitializer.EnsureInitialized(ref _tiledScales, () =>
    {
        var w = Int4!;
        int tiles = (w.Rows + 3) / 4, gc = w.GroupCount;
        var t = new float[tiles * gc * 4];
        for (int n = 0; n < w.Rows; n++)
            for (int g = 0; g < gc; g++)
                t[((n / 4) * gc + g) * 4 + n % 4] = w.Scales[n * gc + g];
        return t;
    });

    private ushort[]? _tiledHalfScales;

    /// <summary>
    /// <see cref="TiledScales"/> as fp16 bits, same layout (channels past N get +0): the AVX2 integer tiles' scales at
    /// half the bytes. Built on first use, straight from the INT4 scales.
    /// </summary>
    /// <exception cref="InvalidOperationException">The scales are not all fp16 values (<see cref="ScalesAreHalf"/> is false).</exception>
    internal ushort[] TiledHalfScales => _tiledHalfScales ?? (ScalesAreHalf
        ? LazyInitializer.EnsureInitialized(ref _tiledHalfScales, () =>
        {
            var w = Int4!;
            int tiles = (w.Rows + 3) / 4, gc = w.GroupCount;
            var t = GC.AllocateArray<ushort>(tiles * gc * 4, pinned: true);
            for (int n = 0; n < w.Rows; n++)
                for (int g = 0; g < gc; g++)
                    t[((n / 4) * gc + g) * 4 + n % 4] = BitConverter.HalfToUInt16Bits((Half)w.Scales[n * gc + g]);
            return t;
        })
        : throw new InvalidOperationException("TiledHalfScales: this matrix has a scale that is not an fp16 value; read TiledScales."));

    private float[]? _blockScales;

    /// <summary>Output channels per block of <see cref="BlockScales"/> (one AVX-512 tile of channels).</summary>
    internal const int ScaleBlock = 16;

    /// <summary>
    /// The INT4 scales for the AVX-512 integer kernel, whose tiles read 4, 8 or 16 consecutive channels of one group:
    /// per block of 16 channels, group after group, scale[n, g] at <c>((n / 16) · GroupCount + g) · 16 + n % 16</c>;
    /// channels past N get 0. A tile's scales are one contiguous run (GroupCount · 64 bytes) that follows the previous
    /// tile's, so the G = 32 scales stream like the weights instead of as GroupCount strided streams. Built on first use.
    /// </summary>
    internal float[] BlockScales => _blockScales ?? LazyInitializer.EnsureInitialized(ref _blockScales, () =>
    {
        var w = Int4!;
        int blocks = (w.Rows + ScaleBlock - 1) / ScaleBlock, gc = w.GroupCount;
        var t = GC.AllocateArray<float>(blocks * gc * ScaleBlock + 16, pinned: true);
        for (int n = 0; n < w.Rows; n++)
            for (int g = 0; g < gc; g++)
                t[((n / ScaleBlock) * gc + g) * ScaleBlock + n % ScaleBlock] = w.Scales[n * gc + g];
        return t;
    });

    private ushort[]? _blockHalfScales;

    /// <summary>
    /// <see cref="BlockScales"/> as fp16 bits, same layout and padding (channels past N get +0): scale[n, g] at
    /// <c>((n / 16) · GroupCount + g) · 16 + n % 16</c>. Half the scale bytes the AVX-512 integer kernel streams. Built on
    /// first use, straight from the INT4 scales (the fp32 block array is not built for it).
    /// </summary>
    /// <exception cref="InvalidOperationException">The scales are not all fp16 values (<see cref="ScalesAreHalf"/> is false).</exception>
    internal ushort[] BlockHalfScales => _blockHalfScales ?? (ScalesAreHalf
        ? LazyInitializer.EnsureInitialized(ref _blockHalfScales, () =>
        {
            var w = Int4!;
            int blocks = (w.Rows + ScaleBlock - 1) / ScaleBlock, gc = w.GroupCount;
            var t = GC.AllocateArray<ushort>(blocks * gc * ScaleBlock + 16, pinned: true);
            for (int n = 0; n < w.Rows; n++)
                for (int g = 0; g < gc; g++)
                    t[((n / ScaleBlock) * gc + g) * ScaleBlock + n % ScaleBlock] = BitConverter.HalfToUInt16Bits((Half)w.Scales[n * gc + g]);
            return t;
        })
        : throw new InvalidOperationException("BlockHalfScales: this matrix has a scale that is not an fp16 value; read BlockScales."));

    /// <inheritdoc />
    protected override void DisposeCore() { }
}

/// <summary>Host per-token quantized activations.</summary>
internal sealed class CpuQuantizedActivations : QuantizedActivationBuffer
{
    internal CpuQuantizedActivations(int maxRows, int maxColumns) : base(maxRows, maxColumns)
    {
        Values = GC.AllocateArray<sbyte>(checked(maxRows * PaddedColumns), pinned: true);
        Scales = new float[maxRows];
        ChunkSums = GC.AllocateArray<int>(checked(maxRows * (PaddedColumns / ChunkColumns)), pinned: true);
        Interleaved = GC.AllocateArray<sbyte>(checked(maxRows * InterleavedStride(maxColumns)), pinned: true);
    }

    /// <summary>Row stride of <see cref="Interleaved"/> for a call with <paramref name="columns"/> columns: K rounded up to 128.</summary>
    public static int InterleavedStride(int columns) => (columns + 127) / 128 * 128;

    /// <summary>
    /// q in the order of an INT4 super block's nibbles (the AVX-512 integer kernel's): per 128 columns, 0..31, 64..95,
    /// 32..63, 96..127, so one 64-byte load pairs with a weight load's low nibbles and the next with its high ones.
    /// Row stride <see cref="InterleavedStride"/>; padding zero.
    /// </summary>
    public sbyte[] Interleaved { get; }

    /// <summary>Columns per entry of <see cref="ChunkSums"/>.</summary>
    public const int ChunkColumns = 32;

    /// <summary>q[m, k], row stride pad64(K) of the current call.</summary>
    public sbyte[] Values { get; }
    /// <summary>One scale per row.</summary>
    public float[] Scales { get; }
    /// <summary>
    /// Σ q[m, k] over each 32-column chunk, row stride pad64(K) / 32, written by the CPU quantizer: the integer kernels
    /// multiply unsigned nibbles u = q_w + 8 and subtract 8·Σ q_a per group.
    /// </summary>
    public int[] ChunkSums { get; }

    /// <inheritdoc />
    protected override void DisposeCore() { }
}
