#!/usr/bin/env bash
# Prints the stack frame of every CPU streaming tile (W4A16 nibble tiles and AVX-512 integer tiles) as the JIT compiled
# it in a real decode process, and fails when one of them calls a runtime helper, or its frame passes FRAME_LIMIT bytes.
# Why: a tile compiled before a static class it reads (CpuPrefetch) is initialized gets a static-base helper call; every
# vector register is caller-saved, so the allocator spills the accumulators and the tile ran ~1.5x slower for the life
# of the process (W4A16 tile samples per 2-token forward: 182 before the fix, 119 after) (docs/results.md, eleventh round). Timing tests cannot see that reliably on a noisy machine; this can.
# Usage: benchmarks/scripts/check-tile-jit.sh [tokens=2] [mode=W4A16]   (about 1 minute; needs AVX-512 for these tiles)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
tokens=${1:-2}; mode=${2:-W4A16}; limit=${FRAME_LIMIT:-512}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
dotnet build -c Release benchmarks/QSpec.Benchmarks -v q -nologo >/dev/null
bin=$(ls benchmarks/QSpec.Benchmarks/bin/Release/*/QSpec.Benchmarks | head -1)
# The first forward of the process is the context prefill (M = 64), as in `qspec generate` and `qspec bench`.
DOTNET_JitDisasm="Tile Tile2 Tile4 Pairs Table2 Table4 Denormal2 Denormal4" DOTNET_JitStdOutFile="$out/jit.asm" \
  "$bin" decodeloop tinyllama-1.1b 2 "$mode" 2 64 "$tokens" | tail -1
[ -s "$out/jit.asm" ] || { echo "check-tile-jit.sh: no tile was compiled (no AVX-512 on this machine?)"; exit 0; }
awk -v limit="$limit" '
  /; Assembly listing for method/ { name = $6; gsub(/QSpec\.Kernels\.Backends\.Cpu\./, "", name); sub(/\(.*/, "", name) }
  function num(s,   v, i, c) { if (s !~ /^0x/) return s + 0; v = 0; s = toupper(substr(s, 3))
                               for (i = 1; i <= length(s); i++) { c = index("0123456789ABCDEF", substr(s, i, 1)) - 1; v = v * 16 + c }
                               return v }
  /sub +rsp, / { frame[name] = num($3) }
  /call +\[CORINFO_HELP/ { helper[name] = helper[name] " " $2 }
  END {
    bad = 0
    for (n in frame) {
      status = "ok"
      if (helper[n] != "") { status = "HELPER CALL" helper[n]; bad = 1 }
      if (frame[n] > limit) { status = status " FRAME > " limit; bad = 1 }
      printf "%-70s frame %5d bytes  %s\n", n, frame[n], status
    }
    exit bad
  }' "$out/jit.asm"
