using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace QSpec.Core.Tests.Fuzzing;

/// <summary>A header field of the file being fuzzed: where it is and how wide (4 or 8 bytes, little-endian).</summary>
/// <param name="Name">For messages only.</param>
public sealed record FuzzField(string Name, int Offset, int Width = 4);

/// <summary>The mutation families. Each case picks one, so a failure names what was done.</summary>
public enum Mutation
{
    /// <summary>1..8 random bits flipped, half of them in the header region.</summary>
    BitFlips,
    /// <summary>1..4 bytes set to boundary values (0x00, 0xFF, 0x7F, 0x80) or random ones.</summary>
    ByteSets,
    /// <summary>The file cut at a random length (often inside the header).</summary>
    Truncation,
    /// <summary>A declared header field set to an extreme value (0, -1, int.MinValue, int.MaxValue, 2^20, 2^31, ...).</summary>
    ExtremeField,
    /// <summary>Random bytes inserted, appended, or overwriting a range.</summary>
    Junk,
    /// <summary>An edit of the JSON header of an "int64 length + JSON" file (.qspec, safetensors); the prefix is kept consistent.</summary>
    JsonEdit,
}

/// <summary>
/// Seeded mutations of a valid file, for reader fuzz tests: the same (seed, case) always gives the same bytes, so a
/// failure is reproduced by its case number alone. One engine for every reader (llama2.c, .qspec, tokenizers, GGUF,
/// safetensors): the reader-specific knowledge is only the list of <see cref="FuzzField"/>s, the header region and,
/// for JSON-headed formats, <see cref="JsonHeader"/>.
/// </summary>
public sealed class FileMutator
{
    /// <summary>The environment variable that sets the number of cases per reader (default <see cref="DefaultCases"/>).</summary>
    public const string CasesVariable = "QSPEC_FUZZ_CASES";

    /// <summary>Cases per reader in the normal suite.</summary>
    public const int DefaultCases = 500;

    private static readonly long[] s_extremes =
    [
        0, 1, -1, 2, 3, 7, 255, 256, 65535, 65536, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 349538, 1048566,
        int.MaxValue, int.MinValue, int.MaxValue - 7, 1L << 31, 1L << 32, (1L << 32) + 4, long.MaxValue, long.MinValue, long.MaxValue / 4,
    ];

    private readonly byte[] _original;
    private readonly int _seed;
    private readonly IReadOnlyList<FuzzField> _fields;
    private readonly int _headerBytes;

    /// <param name="original">A valid file.</param>
    /// <param name="seed">Fixes every case.</param>
    /// <param name="fields">Header fields for <see cref="Mutation.ExtremeField"/> (none: that family falls back to byte sets).</param>
    /// <param name="headerBytes">Where half the bit flips and byte sets land; default: the end of the last field, at least 64.</param>
    public FileMutator(byte[] original, int seed, IReadOnlyList<FuzzField>? fields = null, int? headerBytes = null)
    {
        _original = original;
        _seed = seed;
        _fields = fields ?? [];
        _headerBytes = Math.Min(original.Length, headerBytes ?? Math.Max(64, _fields.Count == 0 ? 0 : _fields.Max(f => f.Offset + f.Width)));
    }

    /// <summary>True for "int64 little-endian length, then that many bytes of UTF-8 JSON" files: enables <see cref="Mutation.JsonEdit"/>.</summary>
    public bool JsonHeader { get; init; }

    /// <summary>The original file.</summary>
    public ReadOnlySpan<byte> Original => _original;

    /// <summary>Number of cases to run: <c>$QSPEC_FUZZ_CASES</c> when set, else <paramref name="normal"/>.</summary>
    public static int CaseCount(int normal = DefaultCases) =>
        int.TryParse(Environment.GetEnvironmentVariable(CasesVariable), out int n) && n > 0 ? n : normal;

    /// <summary>The families this mutator uses, in case order (case i uses family i mod count).</summary>
    public IReadOnlyList<Mutation> Families =>
        JsonHeader ? Enum.GetValues<Mutation>() : [.. Enum.GetValues<Mutation>().Where(m => m != Mutation.JsonEdit)];

    /// <summary>The bytes of case <paramref name="index"/>, and what was done to them.</summary>
    public byte[] Mutate(int index, out string description)
    {
        var families = Families;
        var family = families[index % families.Count];
        var rng = new Random(HashCode.Combine(_seed, index));
        var bytes = (byte[])_original.Clone();
        var what = new StringBuilder($"case {index} ({family}):");
        bytes = family switch
        {
            Mutation.BitFlips => FlipBits(bytes, rng, what),
            Mutation.ByteSets => SetBytes(bytes, rng, what),
            Mutation.Truncation => Truncate(bytes, rng, what),
            Mutation.ExtremeField => _fields.Count > 0 ? SetField(bytes, rng, what) : SetBytes(bytes, rng, what),
            Mutation.Junk => AddJunk(bytes, rng, what),
            Mutation.JsonEdit => EditJson(bytes, rng, what),
            _ => throw new InvalidOperationException(family.ToString()),
        };
        description = what.ToString();
        return bytes;
    }

    /// <summary>A position: half the time inside the header region, else anywhere.</summary>
    private int Position(Random rng, int length) =>
        length == 0 ? 0 : rng.Next(2) == 0 && _headerBytes > 0 ? rng.Next(Math.Min(_headerBytes, length)) : rng.Next(length);

    private byte[] FlipBits(byte[] bytes, Random rng, StringBuilder what)
    {
        for (int i = rng.Next(1, 9); i > 0 && bytes.Length > 0; i--)
        {
            int at = Position(rng, bytes.Length), bit = rng.Next(8);
            bytes[at] ^= (byte)(1 << bit);
            what.Append($" flip {at}.{bit}");
        }
        return bytes;
    }

    private byte[] SetBytes(byte[] bytes, Random rng, StringBuilder what)
    {
        ReadOnlySpan<byte> values = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE];
        for (int i = rng.Next(1, 5); i > 0 && bytes.Length > 0; i--)
        {
            int at = Position(rng, bytes.Length);
            bytes[at] = rng.Next(3) == 0 ? (byte)rng.Next(256) : values[rng.Next(values.Length)];
            what.Append($" set {at}=0x{bytes[at]:X2}");
        }
        return bytes;
    }

    private byte[] Truncate(byte[] bytes, Random rng, StringBuilder what)
    {
        int length = rng.Next(3) switch
        {
            0 => rng.Next(Math.Min(bytes.Length, _headerBytes + 1)),
            1 => bytes.Length - 1 - rng.Next(Math.Min(bytes.Length, 64)),
            _ => rng.Next(bytes.Length),
        };
        length = Math.Clamp(length, 0, bytes.Length);
        what.Append($" truncate to {length} of {bytes.Length}");
        return bytes[..length];
    }

    private byte[] SetField(byte[] bytes, Random rng, StringBuilder what)
    {
        for (int i = rng.Next(4) == 0 ? rng.Next(2, 4) : 1; i > 0; i--)
        {
            var field = _fields[rng.Next(_fields.Count)];
            if (field.Offset + field.Width > bytes.Length) continue;
            long value = rng.Next(4) == 0 ? rng.NextInt64(long.MinValue, long.MaxValue) >> rng.Next(64) : s_extremes[rng.Next(s_extremes.Length)];
            var at = bytes.AsSpan(field.Offset, field.Width);
            if (field.Width == 8) BinaryPrimitives.WriteInt64LittleEndian(at, value);
            else BinaryPrimitives.WriteInt32LittleEndian(at, unchecked((int)value));
            what.Append($" {field.Name}={(field.Width == 8 ? value : unchecked((int)value))}");
        }
        return bytes;
    }

    private byte[] AddJunk(byte[] bytes, Random rng, StringBuilder what)
    {
        var junk = new byte[rng.Next(4) == 0 ? rng.Next(1, 4096) : rng.Next(1, 17)];
        rng.NextBytes(junk);
        int at = Position(rng, bytes.Length + 1);
        switch (rng.Next(3))
        {
            case 0:
                what.Append($" insert {junk.Length} at {at}");
                return [.. bytes.AsSpan(0, at), .. junk, .. bytes.AsSpan(at)];
            case 1:
                what.Append($" append {junk.Length}");
                return [.. bytes, .. junk];
            default:
                int n = Math.Min(junk.Length, bytes.Length - at);
                what.Append($" overwrite {n} at {at}");
                junk.AsSpan(0, n).CopyTo(bytes.AsSpan(at));
                return bytes;
        }
    }

    // ---- JSON header edits ("int64 length + JSON" layout) ----

    private byte[] EditJson(byte[] bytes, Random rng, StringBuilder what)
    {
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        var json = bytes.AsSpan(8, (int)n).ToArray();
        var data = bytes.AsSpan(8 + (int)n).ToArray();
        byte[] edited;
        int kind = rng.Next(10);
        if (kind == 0)
        {
            // Invalid UTF-8 inside a string: a lone continuation byte, an overlong form or a truncated sequence.
            edited = (byte[])json.Clone();
            int quote = Array.IndexOf(edited, (byte)'"', rng.Next(edited.Length));
            if (quote < 0) quote = Array.IndexOf(edited, (byte)'"');
            byte[][] bad = [[0x80], [0xC0, 0xAF], [0xE2, 0x82], [0xFF], [0xED, 0xA0, 0x80]];
            var insert = bad[rng.Next(bad.Length)];
            edited = [.. edited.AsSpan(0, quote + 1), .. insert, .. edited.AsSpan(quote + 1)];
            what.Append($" invalid UTF-8 {Convert.ToHexString(insert)} after byte {quote}");
        }
        else if (kind == 1)
        {
            // Raw text edits that usually break the syntax.
            edited = (byte[])json.Clone();
            int at = rng.Next(edited.Length);
            byte[] chars = "{}[]\":,\\0-e."u8.ToArray();
            edited[at] = chars[rng.Next(chars.Length)];
            what.Append($" json byte {at}='{(char)edited[at]}'");
        }
        else
        {
            var root = JsonNode.Parse(json)!;
            EditNode(root, rng, what, depth: 0);
            edited = Encoding.UTF8.GetBytes(root.ToJsonString());
        }
        var result = new byte[8 + edited.Length + data.Length];
        // Usually keep the prefix consistent so the edit reaches the parser; sometimes lie about it.
        long prefix = rng.Next(8) == 0 ? edited.Length + rng.Next(-3, 4) : edited.Length;
        BinaryPrimitives.WriteInt64LittleEndian(result, prefix);
        edited.CopyTo(result, 8);
        data.CopyTo(result, 8 + edited.Length);
        return result;
    }

    /// <summary>Walks to a random node (descending into metadata strings that hold JSON, such as a config) and edits it.</summary>
    private static void EditNode(JsonNode root, Random rng, StringBuilder what, int depth)
    {
        var path = new List<string>();
        JsonNode node = root;
        while (true)
        {
            if (node is JsonObject o && o.Count > 0 && rng.Next(4) != 0)
            {
                // Metadata is one key among many tensors: pick it a third of the time at the top.
                var (key, child) = path.Count == 0 && o.ContainsKey("__metadata__") && rng.Next(3) == 0
                    ? o.First(p => p.Key == "__metadata__") : o.ElementAt(rng.Next(o.Count));
                path.Add(key);
                if (child is null) break;
                if (child is JsonValue v && v.TryGetValue(out string? s) && s.StartsWith('{') && depth == 0 && rng.Next(2) == 0)
                {
                    // A JSON document inside a string (the .qspec config): edit it and store it back.
                    JsonNode? inner;
                    try { inner = JsonNode.Parse(s); } catch (System.Text.Json.JsonException) { inner = null; }
                    if (inner is not null)
                    {
                        what.Append($" in {string.Join('.', path)}:");
                        EditNode(inner, rng, what, depth + 1);
                        o[key] = inner.ToJsonString();
                        return;
                    }
                }
                node = child;
            }
            else if (node is JsonArray a && a.Count > 0 && rng.Next(4) != 0)
            {
                int i = rng.Next(a.Count);
                path.Add(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                if (a[i] is null) break;
                node = a[i]!;
            }
            else break;
        }
        what.Append($" {string.Join('.', path)}");
        var parent = node.Parent;
        JsonNode? replacement = rng.Next(12) switch
        {
            0 => JsonValue.Create(node is JsonValue nv ? nv.ToJsonString() : "x"), // the number 64 becomes the string "64"
            1 => JsonValue.Create(s_extremes[rng.Next(s_extremes.Length)]),
            2 => JsonValue.Create(-rng.Next(1, 1 << 20)),
            3 => JsonValue.Create(1e300),
            4 => JsonValue.Create(0.5),
            5 => null,
            6 => JsonValue.Create(true),
            7 => new JsonArray(),
            8 => new JsonObject(),
            9 => JsonValue.Create(new string('9', rng.Next(20, 400))),
            10 => JsonValue.Create("\u0000\uFFFF"),
            _ => Deep(rng.Next(2, 200)),
        };
        string shown = replacement?.ToJsonString() ?? "null";
        what.Append($" := {(shown.Length > 40 ? shown[..40] + "..." : shown)}");
        if (parent is JsonObject po)
        {
            string key = path[^1];
            if (rng.Next(6) == 0) { po.Remove(key); what.Append(" (removed)"); }
            else po[key] = replacement;
        }
        else if (parent is JsonArray pa)
        {
            int i = pa.IndexOf(node);
            if (rng.Next(6) == 0) { pa.RemoveAt(i); what.Append(" (removed)"); }
            else pa[i] = replacement;
        }
        else if (node is JsonObject ro && ro.Count > 0 && rng.Next(2) == 0)
        {
            ro.Remove(ro.ElementAt(rng.Next(ro.Count)).Key);
            what.Append(" (removed a key)");
        }

        static JsonNode Deep(int levels)
        {
            JsonNode n = new JsonArray();
            for (int i = 0; i < levels; i++) n = new JsonArray(n);
            return n;
        }
    }
}
