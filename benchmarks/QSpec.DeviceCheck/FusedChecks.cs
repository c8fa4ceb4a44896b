using System.Text.Json.Nodes;
using QSpec.Kernels.Backends;
using QSpec.Kernels.Backends.Ilgpu;
using QSpec.Kernels.Formats;

namespace QSpec.DeviceCheck;

/// <summary>
/// Every fused op on the device against its composition from plain ops on the same device (IBackend's default bodies,
/// reached through <see cref="ComposedBackend"/>), bit for bit: on CUDA this is where a different FMA contraction of
/// the shared arithmetic in a fused kernel would show. Outputs are pre-filled with NaN.
/// </summary>
internal sealed class FusedChecks(IBackend device, CheckPlan plan, CheckLog log)
{
    private const string Group = "fused";
    private readonly IBackend _composed = new ComposedBackend(device);

    public void RunAll()
    {
        foreach (var (n, k, g, m) in plan.LinearShapes.Take(plan.Simulated ? 1 : 2))
            foreach (var (kind, bits) in new[] { (LinearKind.W4A16, 0), (LinearKind.Int, 8) })
                log.Check(Group, $"linear_many+swiglu+add {kind}{(bits > 0 ? $" a{bits}" : "")} {n}x{k} g{g} m{m}", () => Linears(kind, bits, n, k, g, m, mma: false));
        // The tensor-core forms (forced; off by default) against the dp4a composition.
        var (mn, mk, mg, mm) = plan.LinearShapes[0];
        if (device is IlgpuBackend && mm >= IlgpuBackend.IntMmaRows)
            log.Check(Group, $"linear_many+swiglu+add Int a8 mma {mn}x{mk} g{mg} m{mm}", () => Linears(LinearKind.Int, 8, mn, mk, mg, mm, mma: true));
        log.Check(Group, $"rmsnorm_quantize {plan.NormRows}x{plan.NormDim}", RmsNormQuantize);
        foreach (var precision in new[] { KvPrecision.Float32, KvPrecision.Float16 })
            log.Check(Group, $"rope_store_kv_attention {precision}", () => Attention(precision));
    }

    private JsonObject Linears(LinearKind kind, int bits, int n, int k, int g, int m, bool mma)
    {
        // With mma the fused calls run on the tensor cores and the composition on dp4a.
        void TensorCores(bool on) { if (mma) ((IlgpuBackend)device).IntMmaMinRows = on ? IlgpuBackend.IntMmaRows : int.MaxValue; }
        int[] widths = [n, n / 2 + 1, n];
        var owned = new List<IDisposable>();
        T Own<T>(T d) where T : IDisposable { owned.Add(d); return d; }
        try
        {
            var w = widths.Select((wn, i) => Own(device.CreateMatrix(Int4Matrix.Quantize(Data.Random(wn * k, wn + k + i), wn, k, g), null, wn, k))).ToArray();
            var x = Own(Upload(Data.Random(m * k, m + k)));
            QuantizedActivationBuffer? q = null;
            if (kind == LinearKind.Int)
            {
                q = Own(device.AllocateQuantizedActivations(m, k));
                device.QuantizeActivations(x, m, k, bits, q);
            }
            var result = new JsonObject();
            bool pass = true;
            void Record(string name, DeviceBuffer expected, DeviceBuffer actual)
            {
                var c = Bitwise(Download(expected), Download(actual));
                pass &= c["pass"]!.GetValue<bool>();
                result[name] = c;
            }
            var fused = widths.Select(wn => Own(NaNs(m * wn))).ToArray();
            var composed = widths.Select(wn => Own(NaNs(m * wn))).ToArray();
            TensorCores(true);
            device.LinearMany(kind, x, q, w, fused, m);
            TensorCores(false);
            _composed.LinearMany(kind, x, q, w, composed, m);
            for (int i = 0; i < widths.Length; i++) Record($"many_{i}", composed[i], fused[i]);

            var (gate, up, gateRef, upRef) = (Own(NaNs(m * n)), Own(NaNs(m * n)), Own(NaNs(m * n)), Own(NaNs(m * n)));
            TensorCores(true);
            device.LinearSwiGlu(kind, x, q, w[0], w[2], gate, up, m);
            TensorCores(false);
            _composed.LinearSwiGlu(kind, x, q, w[0], w[2], gateRef, upRef, m);
            Record("swiglu", gateRef, gate);

            var residual = Data.Random(m * n, 3, 4f);
            var (sum, sumRef, scratch, scratchRef) = (Own(Upload(residual)), Own(Upload(residual)), Own(NaNs(m * n)), Own(NaNs(m * n)));
            TensorCores(true);
            device.LinearAdd(kind, x, q, w[0], sum, scratch, m);
            TensorCores(false);
            _composed.LinearAdd(kind, x, q, w[0], sumRef, scratchRef, m);
            Record("add", sumRef, sum);
            result["pass"] = pass;
            return result;
        }
        finally
        {
            TensorCores(false);
            foreach (var d in owned) d.Dispose();
        }
    }

    private JsonObject RmsNormQuantize()
    {
        int rows = plan.NormRows, dim = plan.NormDim;
        using var x = Upload(Data.Random(rows * dim, 21, 3f));
        using var weight = Upload(Data.Random(dim, 22));
        using var y = NaNs(rows * dim);
        using var yRef = NaNs(rows * dim);
        using var q = device.AllocateQuantizedActivations(rows, dim);
        using var qRef = device.AllocateQuantizedActivations(rows, dim);
        device.RmsNormQuantize(x, weight, y, rows, dim, 1e-5f, 8, q);
        _composed.RmsNormQuantize(x, weight, yRef, rows, dim, 1e-5f, 8, qRef);
        var norm = Bitwise(Download(yRef), Download(y));
        // The quantized rows compared through what reads them: one integer linear over each.
        using var w = device.CreateMatrix(Int4Matrix.Quantize(Data.Random(7 * dim, 23), 7, dim, 32), null, 7, dim);
        using var o = NaNs(rows * 7);
        using var oRef = NaNs(rows * 7);
        device.LinearInt(q, w, o, rows);
        device.LinearInt(qRef, w, oRef, rows);
        var quantized = Bitwise(Download(oRef), Download(o));
        return new JsonObject
        {
            ["pass"] = norm["pass"]!.GetValue<bool>() && quantized["pass"]!.GetValue<bool>(), ["norm"] = norm, ["quantized_linear"] = quantized,
        };
    }

    /// <summary>Two sequences (the plan's rows after its cached positions, and one decode row at position 3) in one call.</summary>
    private JsonObject Attention(KvPrecision precision)
    {
        var (heads, kvHeads, hs, start, rows) = plan.Attention;
        int kvDim = kvHeads * hs, width = heads * hs, capacity = start + rows, m = rows + 1;
        (int Rows, int Start)[] parts = [(rows, start), (1, 3)];
        var q = Data.Random(m * width, 31, 2f);
        var k = Data.Random(m * kvDim, 32, 2f);
        var v = Data.Random(m * kvDim, 33);
        var owned = new List<IDisposable>();
        T Own<T>(T d) where T : IDisposable { owned.Add(d); return d; }
        try
        {
            var history = Own(Upload(Data.Random(capacity * kvDim, 34, 2f)));
            var historyV = Own(Upload(Data.Random(capacity * kvDim, 35)));
            DeviceBuffer[] Caches() // keys, values: the history at every position
            {
                var (kc, vc) = (Own(device.AllocateKv((long)capacity * kvDim, precision)), Own(device.AllocateKv((long)capacity * kvDim, precision)));
                device.StoreKv(history, historyV, 0, capacity, kvDim, kc, vc, 0, 0);
                return [kc, vc];
            }
            var caches = parts.Select(_ => (DeviceBuffer[])[.. Caches(), .. Caches()]).ToArray(); // fused pair, composed pair
            var (qf, kf, vf, of) = (Own(Upload(q)), Own(Upload(k)), Own(Upload(v)), Own(NaNs(m * width)));
            var (qc, kc, vc, oc) = (Own(Upload(q)), Own(Upload(k)), Own(Upload(v)), Own(NaNs(m * width)));
            device.RopeStoreKvAttention(qf, kf, vf, heads, kvHeads, hs, 10000f,
                parts.Select((p, i) => new KvSlice(p.Rows, p.Start, caches[i][0], caches[i][1], 0)).ToArray(), of);
            _composed.RopeStoreKvAttention(qc, kc, vc, heads, kvHeads, hs, 10000f,
                parts.Select((p, i) => new KvSlice(p.Rows, p.Start, caches[i][2], caches[i][3], 0)).ToArray(), oc);
            var output = Bitwise(Download(oc), Download(of));
            // The caches compared through attention over every position (row r reads positions 0 .. r).
            var probe = Own(Upload(Data.Random(capacity * width, 36, 2f)));
            bool cachesSame = true;
            for (int i = 0; i < parts.Length; i++)
            {
                var (a, b) = (Own(NaNs(capacity * width)), Own(NaNs(capacity * width)));
                device.Attention(probe, 0, capacity, heads, kvHeads, hs, caches[i][0], caches[i][1], 0, 0, a);
                device.Attention(probe, 0, capacity, heads, kvHeads, hs, caches[i][2], caches[i][3], 0, 0, b);
                cachesSame &= Bitwise(Download(b), Download(a))["pass"]!.GetValue<bool>();
            }
            return new JsonObject { ["pass"] = output["pass"]!.GetValue<bool>() && cachesSame, ["output"] = output, ["caches_equal"] = cachesSame };
        }
        finally
        {
            foreach (var d in owned) d.Dispose();
        }
    }

    private static JsonObject Bitwise(float[] expected, float[] actual)
    {
        int bad = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]) && bad++ == 0) first = i;
        var o = new JsonObject { ["pass"] = bad == 0, ["elements"] = expected.Length, ["bad"] = bad };
        if (first >= 0) o["first_bad"] = $"[{first}] expected {expected[first]:R}, got {actual[first]:R}";
        return o;
    }

    private DeviceBuffer Upload(float[] data)
    {
        var b = device.Allocate(data.Length);
        device.Upload(data, b);
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
        device.Download(b, host);
        return host;
    }
}
