using ScottPlot;

namespace QSpec.Cli;

/// <summary>
/// <c>qspec bench --plot FILE.png</c>: two panels side by side. Left: QSpec acceptance rate at each draft position
/// (accepted at i / drafted at i). Right: generation tokens/s per mode (the QSpec bar labelled with its k).
/// </summary>
internal static class BenchPlot
{
    public static void Save(BenchReport report, string path, string draftLength)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();

        var acceptance = multiplot.GetPlot(0);
        var byPosition = report.Rows.FirstOrDefault(r => r.Mode == "qspec")?.AcceptanceByPosition ?? [];
        if (byPosition.Count > 0)
        {
            acceptance.Add.Bars(byPosition.Select(a => a * 100).ToArray());
            acceptance.Axes.Bottom.SetTicks(Enumerable.Range(0, byPosition.Count).Select(i => (double)i).ToArray(),
                                            Enumerable.Range(1, byPosition.Count).Select(i => i.ToString()).ToArray());
        }
        else acceptance.Add.Annotation("no qspec row (add qspec to --modes)");
        acceptance.Title($"QSpec acceptance per draft position (k = {draftLength})");
        acceptance.XLabel("draft position");
        acceptance.YLabel("accepted, % of drafted");
        acceptance.Axes.SetLimitsY(0, 105);

        var speed = multiplot.GetPlot(1);
        var rows = report.Rows;
        speed.Add.Bars(rows.Select(r => r.TokensPerSecond).ToArray());
        speed.Axes.Bottom.SetTicks(Enumerable.Range(0, rows.Count).Select(i => (double)i).ToArray(),
                                   rows.Select(r => r.Mode == "qspec" ? $"qspec k={draftLength}" : r.Mode).ToArray());
        speed.Axes.Margins(bottom: 0);
        speed.Title($"generation throughput, batch {report.Batch}");
        speed.XLabel("mode");
        speed.YLabel("tokens/s");

        multiplot.SavePng(path, 1200, 500);
    }
}
