#!/usr/bin/env bash
# llama.cpp against QSpec.NET on the TinyLlama-1.1B shape, 2 threads, DECODE tokens/s (llama-bench tg32 and
# `qspec bench`, which times tokens 2..N and leaves the prefill out), measured A B A B in one run: the machine is shared
# and noisy, so read the ratios (each from one round), not the absolute numbers. About 5 minutes (the first run also
# writes the synthetic GGUF files, ~1 minute, kept in $SYNTH for the next run).
#   A: llama-bench tg32 on the synthetic all-Q4_0 GGUF (`llama-quantize --pure`; llama.cpp's CPU Q4_0 path is W4A8).
#   B: qspec bench on THE SAME FILE (W4A16 and W4A8, G = 32 scales from the file).
#   C: qspec bench --synthetic tinyllama-1.1b (random weights in memory, G = 32 like Q4_0): W4A16, W4A8 and QSpec
#      (auto k, auto draft) at SYNTHETIC acceptance 0.99 per draft token (stories260K's measured W4A8 rate).
#   D: one-token forward times of the synthetic shape per channel (G = 0) against G = 32 and the GGUF file, to see what
#      the group size costs each kernel.
# Then QSpec against W4A16 at B = 4 and 8 (synthetic, acceptance 0.99). Each round also prints the streaming read
# (GB/s) measured just before and just after it.
# Environment: QSPEC_MODELS (default: the ../shared beside the checkout), THREADS (2), ROUNDS (2), OUT, SYNTH, and
# LLAMA_CPP_BIN: a folder holding llama-bench, llama-quantize and their .so files built for THIS machine (default: the
# prebuilt ones in $QSPEC_MODELS/tools/llama.cpp/bin, built with GGML_NATIVE on an AVX-512 host: on a machine without
# AVX-512 they die with SIGILL, and the script says so and how to build them, as the llama.cpp commit in its ORIGIN.txt).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [ -z "${QSPEC_MODELS:-}" ]; then # as SharedData: the first ../shared (holding models/) walking up from the checkout
  dir=$root; while [ "$dir" != / ] && [ ! -d "$dir/../shared/models" ]; do dir=$(dirname "$dir"); done
  QSPEC_MODELS=$(cd "$dir/../shared" 2>/dev/null && pwd) || { echo "compare-llama-cpp.sh: set QSPEC_MODELS" >&2; exit 1; }
fi
export QSPEC_MODELS
LL=$QSPEC_MODELS/tools/llama.cpp
[ -x "$LL/run.sh" ] || { echo "compare-llama-cpp.sh: llama.cpp not found at $LL" >&2; exit 1; }
# ll TOOL ARGS: a llama.cpp tool, from LLAMA_CPP_BIN when set.
ll() { if [ -n "${LLAMA_CPP_BIN:-}" ]; then local t=$1; shift; LD_LIBRARY_PATH="$LLAMA_CPP_BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$LLAMA_CPP_BIN/$t" "$@"
       else "$LL/run.sh" "$@"; fi; }
THREADS=${THREADS:-2}; ROUNDS=${ROUNDS:-2}
OUT=${OUT:-artifacts/compare}; mkdir -p "$OUT"
SYNTH=${SYNTH:-/tmp/qspec-synth}
start=$(date +%s)
dotnet build samples/QSpec.Cli -c Release -v q -nologo >/dev/null
dotnet build benchmarks/QSpec.Benchmarks -c Release -v q -nologo >/dev/null
Q=(dotnet samples/QSpec.Cli/bin/Release/net10.0/qspec.dll)
# The streaming read (GB/s) at the start and end of each round: this VM's memory bandwidth moves over minutes, and the
# memory-bound W4A8 forward (llama.cpp's Q4_0 decode is not memory-bound here) moves with it.
stream() { dotnet benchmarks/QSpec.Benchmarks/bin/Release/net10.0/QSpec.Benchmarks.dll stream "$THREADS"; }
export QSPEC_TRACE=1 # an internal error prints its stack trace (kept in $OUT/*.err)
# qs OUT.json ARGS...: one qspec bench run; an intermittent internal error (an unexplained NullReferenceException
# inside a parallel kernel has been seen once in ~40 bench runs) is reported with its trace and the run repeated once.
qs() { local out=$1; shift
  "${Q[@]}" "$@" > "$out" 2> "${out%.json}.err" && return 0
  echo "(qspec failed: $(grep -m1 'error' "${out%.json}.err"); trace in ${out%.json}.err; running it again)"
  "${Q[@]}" "$@" > "$out" 2> "${out%.json}.err"; }
# synth.sh writes the f16 file, then a default Q4_0 (output.weight in Q6_K) with the prebuilt llama-quantize, which
# is not needed here and fails where that binary cannot run; only the f16 file is required.
"$LL/synth.sh" tinyllama-1.1b "$SYNTH" >/dev/null 2>&1 || true
F16=$SYNTH/tinyllama-1.1b-f16.gguf
[ -s "$F16" ] || { echo "compare-llama-cpp.sh: $LL/synth.sh did not write $F16 (run it by hand to see why)" >&2; exit 1; }
# The llama.cpp binaries must run on this CPU: a SIGILL (exit 132) means they were built for another one.
set +e; ll llama-quantize --help >/dev/null 2>&1; probe=$?
ll llama-bench -m "$QSPEC_MODELS/models/stories260K/stories260K-f32.gguf" -t 1 -p 0 -n 1 -r 1 >/dev/null 2>&1; bench=$?; set -e
if [ $bench -eq 132 ] || [ $probe -eq 132 ]; then
  echo "compare-llama-cpp.sh: the llama.cpp binaries ($( [ -n "${LLAMA_CPP_BIN:-}" ] && echo "$LLAMA_CPP_BIN" || echo "$LL/bin")) die with SIGILL on this CPU" >&2
  echo "  (built for another instruction set). Build llama.cpp at the commit in $LL/ORIGIN.txt for this machine, e.g." >&2
  echo "  cmake -B build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF && cmake --build build -j2 --target llama-bench llama-quantize," >&2
  echo "  then rerun with LLAMA_CPP_BIN=<that build>/bin." >&2
  exit 1
fi
# All-Q4_0 ("--pure") so both programs read the very same INT4 tensors (qspec rejects k-quant tensors such as Q6_K).
GGUF=${F16%-f16.gguf}-q4_0-pure.gguf
[ -s "$GGUF" ] || ll llama-quantize --pure "$F16" "$GGUF" Q4_0 >/dev/null 2>&1
echo "file: $GGUF ($(du -h "$GGUF" | cut -f1)); threads $THREADS; setup $(( $(date +%s) - start )) s"

llama() { ll llama-bench -m "$GGUF" -t "$THREADS" -n 32 -p 0 -r 3 -o json 2>/dev/null \
          | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['avg_ts'])"; }
syn=(bench --synthetic tinyllama-1.1b --threads "$THREADS" --repeats 3 --json)
for r in $(seq 1 "$ROUNDS"); do
  bw0=$(stream)
  a=$(llama)
  qs "$OUT/gguf-r$r.json" bench --model "$GGUF" --threads "$THREADS" --modes w4a16,w4a8 --max-tokens 32 --runs 2 --repeats 3 --json
  # QSpec/W4A16 is a median of per-generation-pair ratios, and on this VM one pair's ratio ranges 0.7-1.4 (the W4A8
  # and W4A16 decode moves between a fast and a slow state from one generation to the next: `QSpec.Benchmarks
  # controllertrace`), so it takes more pairs than the absolute rates.
  qs "$OUT/synthetic-r$r.json" "${syn[@]}" --modes w4a16,w4a8,qspec --acceptance 0.99 --max-tokens 32 --runs 5
  qs "$OUT/synthetic-g0-r$r.json" "${syn[@]}" --group-size 0 --forward-only
  bw1=$(stream)
  python3 - "$a" "$OUT" "$r" "$bw0" "$bw1" <<'PY'
import json, sys
a, out, r = float(sys.argv[1]), sys.argv[2], sys.argv[3]
load = lambda name: json.load(open(f"{out}/{name}-r{r}.json"))
g, s, z = load("gguf"), load("synthetic"), load("synthetic-g0")
row = lambda d, m: next(x for x in d["rows"] if x["mode"] == m)
w16, w8, qs = (row(s, m)["tokens_per_second"] for m in ("w4a16", "w4a8", "qspec"))
sp = row(s, "qspec")["speedup_vs_w4a16"]
g16, g8 = row(g, "w4a16")["tokens_per_second"], row(g, "w4a8")["tokens_per_second"]
print(f"round {r}: llama.cpp Q4_0 tg32 {a:.1f} tok/s | same GGUF in qspec: W4A16 {g16:.1f}, W4A8 {g8:.1f} | "
      f"synthetic G=32: W4A16 {w16:.1f}, W4A8 {w8:.1f}, QSpec(p=0.99) {qs:.1f} (mean acc {row(s, 'qspec')['mean_accepted_length']:.2f})")
print(f"  same file:  W4A16/llama {g16/a:.2f}  W4A8/llama {g8/a:.2f}  (stream read {sys.argv[4]} GB/s before the round, {sys.argv[5]} after)")
print(f"  synthetic:  W4A16/llama {w16/a:.2f}  W4A8/llama {w8/a:.2f}  best W4A16-exact/llama {max(w16, qs)/a:.2f}  QSpec/W4A16 {sp:.2f}")
ms = lambda d, m: d["decode_ms"][m]
print("  one-token forward ms (G=0 | G=32 | GGUF): " + ", ".join(
    f"{m} {ms(z, m):.1f} | {ms(s, m):.1f} | {ms(g, m):.1f}" for m in ("w4a16", "w4a8")) +
    f"; W4A16 G=32/G=0 {ms(s, 'w4a16')/ms(z, 'w4a16'):.2f}, GGUF/G=32 {ms(g, 'w4a16')/ms(s, 'w4a16'):.2f}")
PY
done
for b in 4 8; do
  qs "$OUT/synthetic-b$b.json" "${syn[@]}" --modes w4a16,w4a8,qspec --acceptance 0.99 --batch $b --max-tokens 32 --runs 7
  python3 - "$OUT/synthetic-b$b.json" $b <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); row = lambda m: next(x for x in d["rows"] if x["mode"] == m)
q = row("qspec")
print(f"B = {sys.argv[2]}: W4A16 {row('w4a16')['tokens_per_second']:.1f} tok/s, W4A8 {row('w4a8')['tokens_per_second']:.1f}, "
      f"QSpec(p=0.99, auto) {q['tokens_per_second']:.1f} (mean acc {q['mean_accepted_length']:.2f}): QSpec/W4A16 {q['speedup_vs_w4a16']:.2f}, W4A8/W4A16 {row('w4a8')['speedup_vs_w4a16']:.2f}")
PY
done
echo "total $(( $(date +%s) - start )) s; JSON in $OUT"
