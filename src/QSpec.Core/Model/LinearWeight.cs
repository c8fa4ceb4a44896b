using QSpec.Kernels.Formats;

namespace QSpec.Model;

/// <summary>
/// One linear layer W[N, K] (N outputs, K inputs, row-major [out][in] as in llama2.c) on the host:
/// dense float32 weights, INT4 weights, or both. Immutable once the model is built.
/// </summary>
public sealed class LinearWeight
{
    /// <summary>Creates a layer; at least one of <paramref name="dense"/> and <paramref name="int4"/> is required.</summary>
    public LinearWeight(int rows, int columns, float[]? dense, Int4Matrix? int4)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        if (dense is null && int4 is null) throw new ArgumentException("A linear layer needs dense or INT4 weights.", nameof(dense));
        if (dense is not null && dense.LongLength != (long)rows * columns)
            throw new ArgumentException($"Dense weights have {dense.LongLength} elements, expected {rows}x{columns}.", nameof(dense));
        if (int4 is not null && (int4.Rows != rows || int4.Columns != columns))
            throw new ArgumentException($"INT4 weights are {int4.Rows}x{int4.Columns}, expected {rows}x{columns}.", nameof(int4));
        Rows = rows; Columns = columns; Dense = dense; Int4 = int4;
    }

    /// <summary>N, outputs.</summary>
    public int Rows { get; }
    /// <summary>K, inputs.</summary>
    public int Columns { get; }
    /// <summary>Dense W[N, K], or null.</summary>
    public float[]? Dense { get; }
    /// <summary>INT4 W[N, K], or null.</summary>
    public Int4Matrix? Int4 { get; }

    /// <summary>A dense layer.</summary>
    public static LinearWeight FromDense(float[] w, int rows, int columns) => new(rows, columns, w, null);

    /// <summary>A copy that keeps only the INT4 weights (drops the float32 copy to save memory).</summary>
    public LinearWeight WithInt4(Int4Matrix int4, bool keepDense = false) => new(Rows, Columns, keepDense ? Dense : null, int4);
}
