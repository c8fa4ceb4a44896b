namespace QSpec.Benchmarks;

/// <summary>
/// How many bytes a benchmark must cycle through so that its reads come from memory, not from the last-level cache.
/// Fixed 256 MiB was eight times the 32 MiB L3 of the first development VMs, but an Intel Xeon guest (8 Dec 2026)
/// reports a 300 MiB L3 (lscpu, /sys): there 256 MiB of copies fit in the cache and the M = 1 kernel rows read
/// 108-175 % of a 256 MiB "stream". So the size is twice the largest cache the OS reports, and at least 256 MiB.
/// </summary>
public static class ColdMemory
{
    private const long Floor = 256L << 20, Ceiling = 1L << 30;

    /// <summary>
    /// Bytes to cycle over: 2 × the largest cache in /sys/devices/system/cpu/cpu0/cache, rounded up to 1 MiB, within
    /// [256 MiB, 1 GiB] (the ceiling bounds the kernel table's memory on a machine that reports a huge shared cache).
    /// </summary>
    public static readonly long Bytes = Math.Clamp((2 * LastLevelCacheBytes() + (1 << 20) - 1) & ~((1L << 20) - 1), Floor, Ceiling);

    /// <summary>The largest cache size the OS reports for cpu0, in bytes; 0 where it reports none (not Linux, or no /sys).</summary>
    public static long LastLevelCacheBytes()
    {
        long best = 0;
        try
        {
            const string root = "/sys/devices/system/cpu/cpu0/cache";
            if (!Directory.Exists(root)) return 0;
            foreach (string dir in Directory.GetDirectories(root, "index*"))
            {
                string file = Path.Combine(dir, "size");
                if (File.Exists(file)) best = Math.Max(best, ParseSize(File.ReadAllText(file)));
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return best;
    }

    /// <summary>Parses a /sys cache size ("48K", "2048K", "300M"): bytes, or 0 when it is not a size.</summary>
    public static long ParseSize(string text)
    {
        text = text.Trim();
        if (text.Length == 0) return 0;
        long unit = char.ToUpperInvariant(text[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
        string digits = unit == 1 ? text : text[..^1];
        return long.TryParse(digits, out long v) && v > 0 ? v * unit : 0;
    }
}
