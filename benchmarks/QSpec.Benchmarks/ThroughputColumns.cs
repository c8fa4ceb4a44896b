using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace QSpec.Benchmarks;

/// <summary>
/// Custom summary columns: weight (or streamed) GB/s and GOP/s (2·M·N·K per call), from the mean time and the
/// benchmark's Shape / M parameters.
/// </summary>
public static class ThroughputColumns
{
    /// <summary>Bytes a case reads from memory per call (INT4 data + scales, or the streamed array).</summary>
    public static double Bytes(int n, int k) => (double)n * Kernels.Formats.Int4Matrix.PadColumns(k) / 2 + (double)n * ((k + LinearCase.GroupSize - 1) / LinearCase.GroupSize) * 4;

    /// <summary>BDN config adding the two columns to the defaults.</summary>
    public sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new Rate("WeightGB/s", bytes: true));
            AddColumn(new Rate("GOP/s", bytes: false));
        }
    }

    private sealed class Rate(string name, bool bytes) : IColumn
    {
        public string Id => name;
        public string ColumnName => name;
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => bytes ? 0 : 1;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => bytes ? "Bytes read per call / mean time (GB/s)" : "2·M·N·K per call / mean time (GOP/s)";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            double? ns = summary[benchmarkCase]?.ResultStatistics?.Mean;
            if (ns is null) return "-";
            var p = benchmarkCase.Parameters;
            if (p.Items.Any(i => i.Name == "Shape"))
            {
                var s = ((string)p["Shape"]).Split('x');
                int n = int.Parse(s[0]), k = int.Parse(s[1]), m = (int)p["M"];
                return (bytes ? Bytes(n, k) / ns.Value : 2.0 * m * n * k / ns.Value).ToString("F1");
            }
            return bytes ? (Roofline.StreamBytes / ns.Value).ToString("F1") : "-";
        }
    }
}
