using System.Text.Json.Nodes;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;
using QSpec.Kernels.Formats;
using QSpec.Kernels.Ops;

namespace QSpec.DeviceCheck;

/// <summary>
/// Every op of the device backend against its scalar C# reference at large odd shapes, with every output buffer
/// pre-filled with NaN so that an element a kernel never writes fails. Tolerances are named and derived from the
/// reduction each op does; integer paths, copies and rotations by the host table are bit-exact.
/// </summary>
internal sealed class OpChecks(IBackend backend, CheckPlan plan, CheckLog log)
{
    private const string Group = "ops";
    /// <summary>One float rounding, 2^-24.</summary>
    private const double Ulp = 1.0 / (1 << 24);
    /// <summary>SwiGLU: exp may be a few ulp off MathF.Exp on CUDA (ex2.approx), relative.</summary>
    private const double SwiGluRelative = 1e-5;
    /// <summary>RoPE: x·cos − y·sin may be contracted to an FMA by ptxas: 2 roundings of the pair's magnitude.</summary>
    private const double RotationRelative = 4 * Ulp;
    /// <summary>Hadamard of |x| ≤ 1 rows: butterfly sums in another order or fused (as BackendOpTests allows).</summary>
    private const double HadamardAbsolute = 1e-5;

    public void RunAll()
    {
        foreach (var (n, k, g, m) in plan.LinearShapes)
        {
            string shape = $"{n}x{k} g{g} m{m}";
            var w = Int4Matrix.Quantize(Data.Random(n * k, n + k), n, k, g);
            var x = Data.Random(m * k, m + k);
            log.Check(Group, $"linear_w4a16 {shape}", () => LinearW4A16(w, x, m));
            if (backend is IlgpuBackend device) // the split-K path, forced (the rule splits only narrow, long matrices)
                log.Check(Group, $"linear_w4a16 split-k {ForcedParts} parts {shape}", () => SplitLinearW4A16(device, w, x, m));
            foreach (int bits in new[] { 4, 8 })
                log.Check(Group, $"quantize+linear_int a{bits} {shape}", () => LinearInt(w, x, m, bits));
            if (backend is IlgpuBackend ilgpu && m >= IlgpuBackend.IntMmaRows) // the tensor-core kernel, forced (off by default)
                log.Check(Group, $"quantize+linear_int mma a8 {shape}", () => WithIntMma(ilgpu, () => LinearInt(w, x, m, 8)));
        }
        var (fn, fk, _, fm) = plan.LinearShapes[^1];
        log.Check(Group, $"linear_f32 {fn}x{fk} m{fm}", () => LinearF32(fn, fk, fm));
        log.Check(Group, $"rmsnorm {plan.NormRows}x{plan.NormDim}", RmsNorm);
        log.Check(Group, $"swiglu+add {plan.NormRows * plan.NormDim}", SwiGluAndAdd);
        log.Check(Group, $"embedding+argmax {plan.NormDim}", EmbeddingAndArgmax);
        log.Check(Group, "rope", Rope);
        log.Check(Group, "hadamard", Hadamard);
        foreach (var precision in new[] { KvPrecision.Float32, KvPrecision.Float16 })
            log.Check(Group, $"store_kv+attention {precision}", () => Attention(precision));
    }

    private JsonObject LinearW4A16(Int4Matrix w, float[] x, int m)
    {
        var expected = new float[m * w.Rows];
        LinearReference.W4A16(x, m, w, expected);
        using var mat = backend.CreateMatrix(w, null, w.Rows, w.Columns);
        using var xb = Upload(x);
        using var yb = NaNs(expected.Length);
        backend.LinearW4A16(xb, mat, yb, m);
        var wd = w.Dequantize();
        return Compare(expected, Download(yb), i => DotTolerance(x, i / w.Rows, wd, i % w.Rows, w.Columns));
    }

    /// <summary>Parts forced on every matrix by the split-K op check.</summary>
    private const int ForcedParts = 3;

    private JsonObject SplitLinearW4A16(IlgpuBackend device, Int4Matrix w, float[] x, int m)
    {
        device.SplitKPartsOverride = (_, _) => ForcedParts;
        try
        {
            var o = LinearW4A16(w, x, m);
            o["parts"] = device.SplitKParts(w.Rows, Int4Matrix.PadColumns(w.Columns) / 32);
            return o;
        }
        finally
        {
            device.SplitKPartsOverride = null;
        }
    }

    private JsonObject LinearInt(Int4Matrix w, float[] x, int m, int bits)
    {
        int kp = Int4Matrix.PadColumns(w.Columns);
        var q = new sbyte[m * kp];
        var s = new float[m];
        ActivationQuantReference.Quantize(x, m, w.Columns, bits, q, s);
        var expected = new float[m * w.Rows];
        LinearReference.Int(q, s, m, w, expected);
        using var mat = backend.CreateMatrix(w, null, w.Rows, w.Columns);
        using var xb = Upload(x);
        using var qa = backend.AllocateQuantizedActivations(m, w.Columns);
        using var yb = NaNs(expected.Length);
        backend.QuantizeActivations(xb, m, w.Columns, bits, qa);
        backend.LinearInt(qa, mat, yb, m);
        var result = Compare(expected, Download(yb), _ => 0);
        if (backend is IlgpuBackend ilgpu)
        {
            var (values, scales) = ilgpu.DownloadQuantized(qa, m, w.Columns);
            bool same = values.AsSpan().SequenceEqual(q) && scales.AsSpan().SequenceEqual(s);
            result["quantized_bitwise"] = same;
            result["pass"] = result["pass"]!.GetValue<bool>() && same;
        }
        return result;
    }

    /// <summary>Runs <paramref name="check"/> with the integer linears of 9+ rows on the tensor cores, and records how many did.</summary>
    internal static JsonObject WithIntMma(IlgpuBackend device, Func<JsonObject> check)
    {
        long before = device.IntMmaLaunches;
        device.IntMmaMinRows = IlgpuBackend.IntMmaRows;
        try
        {
            var result = check();
            result["int_mma_launches"] = device.IntMmaLaunches - before;
            return result;
        }
        finally
        {
            device.IntMmaMinRows = int.MaxValue;
        }
    }

    private JsonObject LinearF32(int n, int k, int m)
    {
        var w = Data.Random(n * k, 5);
        var x = Data.Random(m * k, 6);
        var expected = new float[m * n];
        LinearReference.F32(x, m, w, n, k, expected);
        using var mat = backend.CreateMatrix(null, w, n, k);
        using var xb = Upload(x);
        using var yb = NaNs(expected.Length);
        backend.LinearF32(xb, mat, yb, m);
        return Compare(expected, Download(yb), i => DotTolerance(x, i / n, w, i % n, k));
    }

    private JsonObject RmsNorm()
    {
        int rows = plan.NormRows, dim = plan.NormDim;
        var x = Data.Random(rows * dim, 7, 4f);
        var weight = Data.Random(dim, 8);
        var expected = new float[x.Length];
        ElementwiseReference.RmsNorm(x, weight, expected, rows, dim, 1e-5f);
        using var xb = Upload(x);
        using var wb = Upload(weight);
        using var yb = NaNs(x.Length);
        backend.RmsNorm(xb, wb, yb, rows, dim, 1e-5f);
        // The mean of squares is summed in another order: (dim + 2) roundings of it, halved by the square root.
        return Compare(expected, Download(yb), i => (dim + 4) * Ulp * Math.Abs(expected[i]) + 1e-30);
    }

    private JsonObject SwiGluAndAdd()
    {
        int n = plan.NormRows * plan.NormDim;
        var gate = Data.Random(n, 9, 8f);
        var up = Data.Random(n, 10, 2f);
        var expected = (float[])gate.Clone();
        ElementwiseReference.SwiGlu(expected, up);
        using var gb = Upload(gate);
        using var ub = Upload(up);
        backend.SwiGlu(gb, ub, n);
        var swiglu = Compare(expected, Download(gb), i => SwiGluRelative * Math.Abs(expected[i]) + 1e-30);
        var sum = (float[])gate.Clone();
        ElementwiseReference.Add(sum, up);
        using var xb = Upload(gate);
        backend.Add(xb, ub, n);
        var add = Compare(sum, Download(xb), _ => 0);
        return new JsonObject
        {
            ["pass"] = swiglu["pass"]!.GetValue<bool>() && add["pass"]!.GetValue<bool>(),
            ["swiglu"] = swiglu, ["add"] = add,
        };
    }

    private JsonObject EmbeddingAndArgmax()
    {
        int vocab = 301, dim = plan.NormDim;
        var table = Data.Random(vocab * dim, 11);
        int[] tokens = [0, 300, 17, 17, 150];
        var expected = tokens.SelectMany(t => table.AsSpan(t * dim, dim).ToArray()).ToArray();
        expected[dim + dim / 2] = 3f; // a tie across the row: the first index wins
        expected[2 * dim - 1] = 3f;
        using var tb = Upload(table);
        using var xb = NaNs(expected.Length);
        backend.Embedding(tb, tokens, dim, xb);
        var rows = Compare(tokens.SelectMany(t => table.AsSpan(t * dim, dim).ToArray()).ToArray(), Download(xb), _ => 0);
        backend.Upload(expected, xb);
        int argmax = backend.Argmax(xb, dim, dim), reference = ElementwiseReference.Argmax(expected.AsSpan(dim, dim));
        rows["argmax"] = argmax;
        rows["argmax_expected"] = reference;
        rows["pass"] = rows["pass"]!.GetValue<bool>() && argmax == reference;
        return rows;
    }

    private JsonObject Rope()
    {
        var (heads, _, headSize, start, _) = plan.Attention;
        int rows = plan.NormRows;
        var x = Data.Random(rows * heads * headSize, 12);
        var positions = Enumerable.Range(0, rows).Select(r => start + 97 * r).ToArray();
        var expected = (float[])x.Clone();
        AttentionReference.Rope(expected, rows, heads, headSize, positions, 500000f);
        using var xb = Upload(x);
        backend.Rope(xb, rows, heads, headSize, positions, 500000f);
        return Compare(expected, Download(xb), i => RotationRelative * (Math.Abs(x[i]) + Math.Abs(x[i ^ 1])) + 1e-30);
    }

    private JsonObject Hadamard()
    {
        int rows = plan.NormRows, dim = 64 * 43, block = 64;
        var x = Data.Random(rows * dim, 13);
        var expected = (float[])x.Clone();
        HadamardReference.Transform(expected, rows, dim, block);
        using var xb = Upload(x);
        backend.Hadamard(xb, rows, dim, block);
        return Compare(expected, Download(xb), _ => HadamardAbsolute);
    }

    private JsonObject Attention(KvPrecision precision)
    {
        var (heads, kvHeads, headSize, start, rows) = plan.Attention;
        int kvDim = kvHeads * headSize, total = start + rows, layers = 2;
        var q = Data.Random(rows * heads * headSize, 14, 2f);
        var k = Data.Random(total * kvDim, 15, 2f);
        var v = Data.Random(total * kvDim, 16);
        long layerOffset = (long)total * kvDim;
        using var kc = backend.AllocateKv(layers * layerOffset, precision);
        using var vc = backend.AllocateKv(layers * layerOffset, precision);
        using var kb = Upload(k);
        using var vb = Upload(v);
        backend.StoreKv(kb, vb, 0, start, kvDim, kc, vc, layerOffset, 0);
        backend.StoreKv(kb, vb, start, rows, kvDim, kc, vc, layerOffset, start);
        bool half = precision == KvPrecision.Float16;
        var kr = half ? k.Select(e => HalfBits.ToFloat(HalfBits.FromFloat(e))).ToArray() : k;
        var vr = half ? v.Select(e => HalfBits.ToFloat(HalfBits.FromFloat(e))).ToArray() : v;
        var stored = new float[total * kvDim];
        backend.Download(kc, stored, layerOffset);
        var store = Compare(kr, stored, _ => 0);

        var expected = new float[q.Length];
        AttentionReference.Attention(q, rows, heads, kvHeads, headSize, kr, vr, start, expected);
        using var qb = Upload(q);
        using var ob = NaNs(q.Length);
        backend.Attention(qb, 0, rows, heads, kvHeads, headSize, kc, vc, layerOffset, start, ob);
        // Outputs are convex combinations of v (|v| ≤ 1): scores and the exp sum reordered over ≤ total positions.
        double tolerance = (headSize + Math.Log2(total) + 8) * 4 * Ulp;
        var attention = Compare(expected, Download(ob), _ => tolerance);
        return new JsonObject
        {
            ["pass"] = store["pass"]!.GetValue<bool>() && attention["pass"]!.GetValue<bool>(),
            ["store_kv"] = store, ["attention"] = attention,
        };
    }

    private static double DotTolerance(float[] x, int row, float[] w, int col, int k)
    {
        double abs = 0;
        for (int i = 0; i < k; i++) abs += Math.Abs((double)x[row * k + i] * w[col * k + i]);
        // Another summation order changes a k-term dot product by at most about k·2^-24·Σ|terms| (×2 for the products).
        return 2.0 * (k + 1) * Ulp * abs + 1e-30;
    }

    private DeviceBuffer Upload(float[] data)
    {
        var b = backend.Allocate(data.Length);
        backend.Upload(data, b);
        return b;
    }

    private DeviceBuffer NaNs(int length)
    {
        var nan = new float[length];
        nan.AsSpan().Fill(float.NaN);
        return Upload(nan);
    }

    private float[] Download(DeviceBuffer b)
    {
        var host = new float[b.Length];
        backend.Download(b, host);
        return host;
    }

    /// <summary>Elements outside tolerance (NaN always is), the largest error and the first bad index.</summary>
    internal static JsonObject Compare(float[] expected, float[] actual, Func<int, double> tolerance)
    {
        long bad = 0;
        int first = -1;
        double maxError = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs((double)expected[i] - actual[i]);
            if (!(error <= tolerance(i)) && !(expected[i].Equals(actual[i])))
            {
                bad++;
                if (first < 0) first = i;
            }
            if (!double.IsNaN(error)) maxError = Math.Max(maxError, error);
        }
        var result = new JsonObject { ["pass"] = bad == 0, ["elements"] = expected.Length, ["bad"] = bad, ["max_abs_error"] = maxError };
        if (first >= 0) result["first_bad"] = $"[{first}] expected {expected[first]:R}, got {actual[first]:R}";
        return result;
    }
}

/// <summary>Deterministic inputs.</summary>
internal static class Data
{
    public static float[] Random(int length, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[length];
        for (int i = 0; i < length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }
}
