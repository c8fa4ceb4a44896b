# Generates the unrolled tile bodies of LinearW4A16Nibble (every (row, channel) accumulator and partial sum must stay in a
# register, so each tile height is spelled out), one file per dequantization form:
#   LinearW4A16Nibble.FoldTiles.cs   G = 32/64: the float 1.5 + q/16, offset and scale folded per group;
#   LinearW4A16Nibble.TableTiles.cs  wider groups and per channel: vpermps from the (u - 8)·s table;
#   LinearW4A16Nibble.DenormalTiles.cs  G = 32/64 where denormal operands are exact and fast: the weight as the
#                                    denormal float u·2^(4j−149), isolated by one AND (nibbles 4..7 after one shift by 16).
# Usage: python3 benchmarks/scripts/gen-w4a16-nibble-tiles.py src/QSpec.Kernels/Backends/Cpu
import sys

# Nibble i of a dword sits at bits 4i..4i+3; the shift that moves it to bits 19..22 (the top of a float's mantissa).
SHIFT = {0: 19, 1: 15, 2: 11, 3: 7, 4: 3, 5: -1, 6: -5, 7: -9}
ORDER = [0, 2, 4, 6, 1, 3, 5, 7]  # even nibbles (low halves of the blocks) first, then odd (high halves)


def guard(r, rmin):
    return f"if (TR.Count > {r}) " if r >= rmin else ""


def tile(C, rmin, rmax, denormal=False):
    L = []
    ws = ", ".join(f"byte* w{c}" for c in range(C))
    ss = ", ".join(f"float* s{c}" for c in range(C))
    L.append(f"    /// <summary>{C} channel(s) × TR rows ({rmin}..{rmax}) over pairs [p0, p1); acc[c · rows + r] is the accumulator of (row r, channel c).</summary>")
    L.append("    [MethodImpl(MethodImplOptions.AggressiveOptimization)]")
    name = "Denormal" if denormal else "Tile"
    L.append(f"    private static void {name}{C}<TR, TG>({ws}, {ss}, int shift, int last, long ahead, int p0, int p1, float* x, int xs,")
    L.append("                                    Vector512<float>* acc, int rows) where TR : struct, IRowTile where TG : struct, IGroupSplit")
    L.append("    {")
    if not denormal:
        L.append("        var mask = Vector512.Create(0x00780000u);")
        L.append("        var one = Vector512.Create(0x3F800000u);")
    L.append("        long aheadScales = (long)PrefetchRows * (last + 1);")
    for r in range(rmax):
        for c in range(C):
            L.append(f"        Vector512<float> a{r}{c} = default; {guard(r, rmin)}a{r}{c} = acc[{c} * rows + {r}];")
    L.append("        for (int p = p0; p < p1; p++)")
    L.append("        {")
    L.append("            float* xp = x + PairFloats * p;")
    for c in range(C):
        L.append(f"            var d{c} = Vector512.Load((uint*)(w{c} + 64 * p)); CpuPrefetch.Line(w0 + ahead + 64 * ({C} * p + {c}));")
    if denormal:
        for c in range(C):
            L.append(f"            var h{c} = Avx512F.ShiftRightLogical(d{c}, 16);")
    L.append("            if (TG.Split && (p & 3) == 0) { " + " ".join(f"CpuPrefetch.Line(s{c} + 4 * p + aheadScales);" for c in range(C)) + " }")
    L.append("            int e0, e1, o0, o1;")
    L.append("            if (TG.Split) { e0 = Math.Min(4 * p, last); o0 = Math.Min(4 * p + 1, last); e1 = Math.Min(4 * p + 2, last); o1 = Math.Min(4 * p + 3, last); }")
    L.append("            else { e0 = o0 = Math.Min((2 * p) >> shift, last); e1 = o1 = Math.Min((2 * p + 1) >> shift, last); }")
    for r in range(rmax):
        for c in range(C):
            L.append(f"            Vector512<float> q{r}{c} = default; {guard(r, rmin)}q{r}{c} = Vector512.Load(xp + {r} * xs + 128);")
    for idx, i in enumerate(ORDER):
        s = SHIFT[i]
        for c in range(C):
            if denormal:
                src = f"d{c}" if i < 4 else f"h{c}"
                L.append(f"            var f{c}_{i} = ({src} & Vector512.Create(0x{0xF << (4 * (i % 4)):X}u)).AsSingle();")
                continue
            sh = f"Avx512F.ShiftLeftLogical(d{c}, {s})" if s > 0 else f"Avx512F.ShiftRightLogical(d{c}, {-s})"
            L.append(f"            var f{c}_{i} = Avx512F.TernaryLogic({sh}, mask, one, 0xEA).AsSingle();")
        for r in range(rmax):
            fm = " ".join(f"q{r}{c} = Avx512F.FusedMultiplyAdd(xr, f{c}_{i}, q{r}{c});" for c in range(C))
            L.append(f"            {guard(r, rmin)}{{ var xr = Vector512.Load(xp + {r} * xs + {16 * i}); {fm} }}")
        if idx == 3:
            L.append("            if (TG.Split)")
            L.append("            {")
            # One scale vector live at a time (channel-major), then the odd halves' offsets.
            for c in range(C):
                fm = " ".join(f"{guard(r, rmin)}a{r}{c} = Avx512F.FusedMultiplyAdd(se, q{r}{c}, a{r}{c});" for r in range(rmax))
                L.append(f"                {{ var se = Avx512F.InsertVector256(Vector512.Create(s{c}[e0]), Vector256.Create(s{c}[e1]), 1); {fm} }}")
            for r in range(rmax):
                fm = " ".join(f"q{r}{c} = xo;" for c in range(C))
                L.append(f"                {guard(r, rmin)}{{ var xo = Vector512.Load(xp + {r} * xs + 144); {fm} }}")
            L.append("            }")
    for c in range(C):
        fm = " ".join(f"{guard(r, rmin)}a{r}{c} = Avx512F.FusedMultiplyAdd(so, q{r}{c}, a{r}{c});" for r in range(rmax))
        L.append(f"            {{ var so = TG.Uniform ? Vector512.Create(s{c}[o0]) : Avx512F.InsertVector256(Vector512.Create(s{c}[o0]), Vector256.Create(s{c}[o1]), 1); {fm} }}")
    L.append("        }")
    for r in range(rmax):
        for c in range(C):
            L.append(f"        {guard(r, rmin)}acc[{c} * rows + {r}] = a{r}{c};")
    L.append("    }")
    return "\n".join(L)


def table_tile(C, rmin, rmax):
    """G >= 128 or per channel: one scale per pair, so vpermps from the 16-entry table (u - 8)·s (the reference's
    products) dequantizes 16 weights per op; even nibbles go to a per-pair chain q, odd ones straight into acc."""
    L = []
    ws = ", ".join(f"byte* w{c}" for c in range(C))
    ss = ", ".join(f"float* s{c}" for c in range(C))
    L.append(f"    /// <summary>Table form: {C} channel(s) × TR rows ({rmin}..{rmax}) over pairs [p0, p1); acc[c · rows + r] is the accumulator of (row r, channel c).</summary>")
    L.append("    [MethodImpl(MethodImplOptions.AggressiveOptimization)]")
    L.append(f"    private static void Table{C}<TR>({ws}, {ss}, int shift, int last, long ahead, int p0, int p1, float* x, int xs,")
    L.append("                                    Vector512<float>* acc, int rows) where TR : struct, IRowTile")
    L.append("    {")
    L.append("        var levels = Vector512.Create(-8f, -7f, -6f, -5f, -4f, -3f, -2f, -1f, 0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f);")
    for r in range(rmax):
        for c in range(C):
            L.append(f"        Vector512<float> a{r}{c} = default; {guard(r, rmin)}a{r}{c} = acc[{c} * rows + {r}];")
    L.append("        for (int p = p0; p < p1; p++)")
    L.append("        {")
    L.append("            float* xp = x + PairFloats * p;")
    for c in range(C):
        L.append(f"            var d{c} = Vector512.Load((int*)(w{c} + 64 * p)); CpuPrefetch.Line(w0 + ahead + 64 * ({C} * p + {c}));")
    L.append("            int g = Math.Min((2 * p) >> shift, last);")
    for c in range(C):
        L.append(f"            var t{c} = levels * Vector512.Create(s{c}[g]);")
    for r in range(rmax):
        for c in range(C):
            L.append(f"            Vector512<float> q{r}{c} = default;")
    for idx, i in enumerate(ORDER):
        for c in range(C):
            src = f"d{c}" if i == 0 else f"Avx512F.ShiftRightLogical(d{c}, {4 * i})"
            L.append(f"            var f{c}_{i} = Avx512F.PermuteVar16x32(t{c}, {src});")
        for r in range(rmax):
            if i == 0:
                fm = " ".join(f"q{r}{c} = xr * f{c}_{i};" for c in range(C))
            elif i % 2 == 0:
                fm = " ".join(f"q{r}{c} = Avx512F.FusedMultiplyAdd(xr, f{c}_{i}, q{r}{c});" for c in range(C))
            else:
                fm = " ".join(f"a{r}{c} = Avx512F.FusedMultiplyAdd(xr, f{c}_{i}, a{r}{c});" for c in range(C))
            L.append(f"            {guard(r, rmin)}{{ var xr = Vector512.Load(xp + {r} * xs + {16 * i}); {fm} }}")
    for r in range(rmax):
        fm = " ".join(f"a{r}{c} += q{r}{c};" for c in range(C))
        L.append(f"            {guard(r, rmin)}{{ {fm} }}")
    L.append("        }")
    for r in range(rmax):
        for c in range(C):
            L.append(f"        {guard(r, rmin)}acc[{c} * rows + {r}] = a{r}{c};")
    L.append("    }")
    return "\n".join(L)


def head(what):
    return '''// <auto-generated> by benchmarks/scripts/gen-w4a16-nibble-tiles.py: the unrolled WHAT tile bodies of LinearW4A16Nibble.
// Regenerate rather than edit; each line repeats one pattern per (row, channel). </auto-generated>
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QSpec.Kernels.Backends.Cpu;

internal static unsafe partial class LinearW4A16Nibble
{
'''.replace("WHAT", what)


out = sys.argv[1]
open(f"{out}/LinearW4A16Nibble.FoldTiles.cs", "w").write(head("fold-form") + tile(4, 1, 2) + "\n\n" + tile(2, 3, 4) + "\n}\n")
open(f"{out}/LinearW4A16Nibble.DenormalTiles.cs", "w").write(head("denormal-form") + tile(4, 1, 2, True) + "\n\n" + tile(2, 3, 4, True) + "\n}\n")
open(f"{out}/LinearW4A16Nibble.TableTiles.cs", "w").write(head("table-form") + table_tile(4, 1, 2) + "\n\n" + table_tile(2, 3, 4) + "\n}\n")
