using System.Text.Json;

namespace QSpec.Core.Tests.Inference;

/// <summary>
/// The one-shot GPU check (benchmarks/QSpec.DeviceCheck) runs end to end with --sim on ILGPU's CPU accelerator, so the
/// program a GPU-lucky session runs in one call is known to work: every correctness check passes, every measurement
/// is written, one JSON line each.
/// </summary>
public class DeviceCheckSimTests
{
    [Fact]
    public void SimRun_PassesEveryCheck_AndWritesOneLinePerCheck()
    {
        string path = Path.Combine(Path.GetTempPath(), $"device-check-{Guid.NewGuid():N}.jsonl");
        try
        {
            var echo = new StringWriter();
            int exit = DeviceCheck.Program.Run(["--sim", "--out", path], echo);
            var lines = File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
            Assert.True(exit == 0, echo.ToString());
            var checks = lines.Where(l => l.TryGetProperty("status", out _)).ToArray();
            var statuses = checks.Select(l => l.GetProperty("status").GetString()).Distinct().Order().ToArray();
            Assert.Subset(new HashSet<string?> { "pass", "measured" }, statuses.ToHashSet());
            string[] groups = ["ops", "fused", "model", "speed", "kernels", "end_to_end"];
            foreach (string g in groups) Assert.Contains(checks, l => l.GetProperty("group").GetString() == g);
            // 20 op checks, plus the tensor-core integer linear at the first shape (9 rows; on dp4a in the warp-2 sim).
            Assert.Equal(21, checks.Count(l => l.GetProperty("group").GetString() == "ops"));
            Assert.Single(checks, l => l.GetProperty("check").GetString()!.StartsWith("quantize+linear_int mma", StringComparison.Ordinal));
            // The forced split-K W4A16 check at each of the plan's linear shapes.
            Assert.Equal(3, checks.Count(l => l.GetProperty("check").GetString()!.StartsWith("linear_w4a16 split-k", StringComparison.Ordinal)));
            var counts = checks.Where(l => l.GetProperty("check").GetString()!.StartsWith("launches", StringComparison.Ordinal)).ToArray();
            // Per W4A16 decode token: 7 kernels per layer with the fused ops (norm, QKV, RoPE+store+attention, wo+add,
            // norm, W1|W3+SwiGLU, w2+add) + embedding, final norm, classifier, argmax; one wait (argmax), none inside the
            // forward, one upload (the token; positions come from the sequence's start). Composed: 16 per layer, and
            // the position is uploaded too. stories260K has 5 layers, TinyLlama-1.1B's structure 22.
            foreach (var (c, layers) in counts.Zip(new[] { 5, 22 }))
            {
                Assert.Equal(layers, c.GetProperty("layers").GetInt32());
                Assert.Equal(7 * layers + 4, c.GetProperty("kernels").GetInt32());
                Assert.Equal(1, c.GetProperty("host_syncs").GetInt32());
                Assert.Equal(0, c.GetProperty("host_syncs_in_forward").GetInt32());
                Assert.Equal(1, c.GetProperty("host_uploads").GetInt32());
                Assert.Equal(16 * layers + 4, c.GetProperty("composed").GetProperty("kernels").GetInt32());
                Assert.Equal(2, c.GetProperty("composed").GetProperty("host_uploads").GetInt32());
            }
            Assert.Equal(2, counts.Length);
            Assert.Equal("summary", lines[^1].GetProperty("check").GetString());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void UnknownArgument_Exits2_WithUsage()
    {
        var echo = new StringWriter();
        Assert.Equal(2, DeviceCheck.Program.Run(["--bogus"], echo));
        Assert.Contains("usage:", echo.ToString());
    }
}
