namespace QSpec.Quantization;

/// <summary>
/// Accumulates GPTQ's layer Hessian H = (2 / n) · Σ x·xᵀ over the n calibration input rows x ∈ ℝᴷ of one linear layer.
/// Sums in double, in the order rows arrive, so the result is deterministic for a fixed calibration order.
/// </summary>
public sealed class HessianAccumulator
{
    private readonly double[] _sum;

    /// <summary>Creates an empty accumulator for inputs of <paramref name="columns"/> features.</summary>
    public HessianAccumulator(int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        Columns = columns;
        _sum = new double[checked(columns * columns)];
    }

    /// <summary>K, the input width.</summary>
    public int Columns { get; }

    /// <summary>Rows accumulated so far.</summary>
    public long Count { get; private set; }

    /// <summary>Adds the rows of X[rows, K] (row-major).</summary>
    public void Add(ReadOnlySpan<float> x, int rows, int columns)
    {
        if (columns != Columns) throw new ArgumentException($"Inputs have {columns} columns, expected {Columns}.", nameof(columns));
        if (x.Length < (long)rows * columns) throw new ArgumentException($"{x.Length} floats do not hold {rows}x{columns}.", nameof(x));
        int k = Columns;
        var xd = new double[k];
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * k, k);
            for (int i = 0; i < k; i++) xd[i] = row[i];
            // Upper triangle only; mirrored in Hessian().
            for (int i = 0; i < k; i++)
            {
                double xi = xd[i];
                if (xi == 0) continue;
                var s = _sum.AsSpan(i * k, k);
                for (int j = i; j < k; j++) s[j] += xi * xd[j];
            }
        }
        Count += rows;
    }

    /// <summary>H[K, K] row-major = 2/n · Σ x·xᵀ (all zero when nothing was added).</summary>
    public double[] Hessian()
    {
        int k = Columns;
        var h = new double[k * k];
        double f = Count == 0 ? 0 : 2.0 / Count;
        for (int i = 0; i < k; i++)
            for (int j = i; j < k; j++)
            {
                double v = _sum[i * k + j] * f;
                h[i * k + j] = v;
                h[j * k + i] = v;
            }
        return h;
    }
}
