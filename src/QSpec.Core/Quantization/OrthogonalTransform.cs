using QSpec.Kernels.Ops;

namespace QSpec.Quantization;

/// <summary>
/// A seeded random orthogonal Q[D, D] applied to row vectors (x ← x·Q), used to rotate the residual stream.
/// </summary>
/// <remarks>
/// <para>D a power of two: Q = diag(s)·H_D/√D with random signs s ∈ {±1} (QuaRot's randomized Hadamard), applied as
/// a sign flip then the fast Walsh–Hadamard transform of <see cref="HadamardReference"/>: O(D log D) per row.</para>
/// <para>Otherwise (e.g. D = 172 = 4·43, where no power-of-two Hadamard covers the whole width): Q is the orthogonal
/// factor of the QR decomposition of a D×D standard Gaussian matrix (modified Gram–Schmidt, columns made unique by
/// a positive R diagonal), applied densely. Both spread outliers over all D coordinates, which a block-diagonal
/// Hadamard with a small block (4 here) would not.</para>
/// </remarks>
internal sealed class OrthogonalTransform
{
    private readonly float[] _signs;
    private readonly double[]? _dense; // Q row-major when D is not a power of two

    public OrthogonalTransform(int dim, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        Dim = dim;
        var rng = new Random(seed);
        if (HadamardReference.IsPowerOfTwo(dim))
        {
            _signs = new float[dim];
            for (int i = 0; i < dim; i++) _signs[i] = rng.Next(2) == 0 ? -1f : 1f;
            Description = $"hadamard(seed={seed})";
        }
        else
        {
            _signs = [];
            _dense = RandomOrthogonal(dim, rng);
            Description = $"random-orthogonal-qr(seed={seed})";
        }
    }

    /// <summary>D.</summary>
    public int Dim { get; }

    /// <summary>Recorded as <c>QuantizationInfo.Rotation</c>.</summary>
    public string Description { get; }

    /// <summary>Each row x of X[rows, D] becomes x·Q.</summary>
    public void ApplyToRows(Span<float> x, int rows)
    {
        int d = Dim;
        if (_dense is null)
        {
            for (int r = 0; r < rows; r++)
            {
                var row = x.Slice(r * d, d);
                for (int i = 0; i < d; i++) row[i] *= _signs[i];
            }
            HadamardReference.Transform(x[..(rows * d)], rows, d, d);
            return;
        }
        var acc = new double[d];
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * d, d);
            Array.Clear(acc);
            for (int i = 0; i < d; i++)
            {
                double xi = row[i];
                for (int j = 0; j < d; j++) acc[j] += xi * _dense[i * d + j];
            }
            for (int j = 0; j < d; j++) row[j] = (float)acc[j];
        }
    }

    /// <summary>Q from the QR decomposition of a Gaussian matrix: modified Gram–Schmidt on its columns.</summary>
    private static double[] RandomOrthogonal(int d, Random rng)
    {
        var a = new double[d * d];
        for (int i = 0; i < a.Length; i++)
        {
            // Box–Muller; 1 - NextDouble() is in (0, 1] so the log is finite.
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            a[i] = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        }
        for (int j = 0; j < d; j++)
        {
            for (int p = 0; p < j; p++)
            {
                double dot = 0;
                for (int i = 0; i < d; i++) dot += a[i * d + p] * a[i * d + j];
                for (int i = 0; i < d; i++) a[i * d + j] -= dot * a[i * d + p];
            }
            double norm = 0;
            for (int i = 0; i < d; i++) norm += a[i * d + j] * a[i * d + j];
            norm = Math.Sqrt(norm);
            for (int i = 0; i < d; i++) a[i * d + j] /= norm;
        }
        return a;
    }
}
