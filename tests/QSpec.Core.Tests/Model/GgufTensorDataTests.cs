using System.Buffers.Binary;
using QSpec.Inference;
using QSpec.Kernels.Backends;
using QSpec.Model.Gguf;

namespace QSpec.Core.Tests.Model;

/// <summary>The GGUF block decoders against values encoded here from the ggml spec, at odd row lengths.</summary>
public class GgufTensorDataTests
{
    [Theory]
    [InlineData(32)]
    [InlineData(96)]
    [InlineData(160)]
    public void Q8_0RowsDecodeAsQTimesD(int columns)
    {
        var rng = new Random(columns);
        var expected = new float[columns];
        var row = new byte[columns / 32 * 34];
        for (int b = 0; b < columns / 32; b++)
        {
            var d = (Half)(rng.NextDouble() * 0.1 + 1e-3);
            BinaryPrimitives.WriteHalfLittleEndian(row.AsSpan(34 * b), d);
            for (int j = 0; j < 32; j++)
            {
                sbyte q = (sbyte)rng.Next(-128, 128);
                row[34 * b + 2 + j] = (byte)q;
                expected[32 * b + j] = q * (float)d;
            }
        }
        var actual = new float[columns];
        GgufTensorData.DecodeRow(GgufTensorType.Q8_0, row, actual);
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData("F16", 7)]
    [InlineData("BF16", 7)]
    [InlineData("F32", 5)]
    public void FloatRowsDecodeExactly(string typeName, int columns)
    {
        var type = Enum.Parse<GgufTensorType>(typeName);
        var values = new[] { 1f, -2.5f, 0.099975586f, 65504f, -0f, 3.140625f, 1e-3f }[..columns];
        int size = type == GgufTensorType.F32 ? 4 : 2;
        var row = new byte[columns * size];
        var expected = new float[columns];
        for (int i = 0; i < columns; i++)
        {
            switch (type)
            {
                case GgufTensorType.F16: BinaryPrimitives.WriteHalfLittleEndian(row.AsSpan(2 * i), (Half)values[i]); expected[i] = (float)(Half)values[i]; break;
                case GgufTensorType.BF16:
                    uint bits = BitConverter.SingleToUInt32Bits(values[i]) & 0xFFFF0000;
                    BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(2 * i), (ushort)(bits >> 16)); expected[i] = BitConverter.UInt32BitsToSingle(bits); break;
                default: BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(4 * i), values[i]); expected[i] = values[i]; break;
            }
        }
        var actual = new float[columns];
        GgufTensorData.DecodeRow(type, row, actual);
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(96)]
    [InlineData(192)]
    public void Q4_0RowToInt4KeepsEveryCodeAndScale(int columns)
    {
        var rng = new Random(columns + 1);
        var row = new byte[columns / 32 * 18];
        rng.NextBytes(row);
        for (int b = 0; b < columns / 32; b++) BinaryPrimitives.WriteHalfLittleEndian(row.AsSpan(18 * b), (Half)(rng.NextDouble() - 0.5));
        var m = QSpec.Kernels.Formats.Int4Matrix.CreateZero(1, columns, 32);
        GgufTensorData.Q4_0RowToInt4(row, m, 0);
        var decoded = new float[columns];
        GgufTensorData.DecodeRow(GgufTensorType.Q4_0, row, decoded);
        Assert.Equal(decoded, m.Dequantize());
        Assert.Equal(row, QSpec.Model.GgufExport.Q4_0(m)); // and back, byte for byte
        for (int k = columns; k < m.PaddedColumns; k++) Assert.Equal(0, m.GetValue(0, k)); // padding is zero
    }

    [Fact]
    public async Task LoadAsyncOfAGgufReportsProgressPerTensor()
    {
        var seen = new List<double>();
        using var model = await LlamaModel.LoadAsync(GgufReaderTests.F32Gguf, new ModelLoadOptions { Backend = BackendKind.Cpu }, new Progress(seen.Add));
        Assert.True(seen.Count >= 48, $"{seen.Count} reports");
        Assert.Equal(1.0, seen[^1]);
        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.First <= p.Second));
    }

    private sealed class Progress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
