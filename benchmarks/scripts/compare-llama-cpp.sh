#!/usr/bin/env bash
# llama.cpp against QSpec.NET on the TinyLlama-1.1B shape, 2 threads, B = 1, measured A B A B in one run (the machine is
# shared and noisy: read the ratios, not the absolute numbers). About 3-4 minutes.
#   A: llama-bench tg32 on the synthetic Q4_0 GGUF (its CPU Q4_0 path is W4A8: 8-bit activations).
#   B: qspec bench --synthetic tinyllama-1.1b: W4A16, W4A8 and QSpec (auto k, auto draft) at SYNTHETIC acceptance
#      0.99 (stories260K's measured W4A8 rate), plus the same GGUF file in W4A16/W4A8 when qspec can load it.
# Then QSpec at B = 4 and 8. Environment: QSPEC_MODELS (default ../shared), THREADS (2), ROUNDS (2), OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${QSPEC_MODELS:-../shared}; export QSPEC_MODELS=$SHARED
LL=$SHARED/tools/llama.cpp
THREADS=${THREADS:-2}; ROUNDS=${ROUNDS:-2}
OUT=${OUT:-artifacts/compare}; mkdir -p "$OUT"
dotnet build samples/QSpec.Cli -c Release -v q -nologo >/dev/null
Q="dotnet samples/QSpec.Cli/bin/Release/net10.0/qspec.dll"
F16=$("$LL/synth.sh" tinyllama-1.1b | head -1)   # .../tinyllama-1.1b-f16.gguf (and its default Q4_0, whose output.weight is Q6_K)
# All-Q4_0 ("--pure") so both programs read the very same INT4 tensors (qspec loads F32/F16/BF16/Q8_0/Q4_0 tensors).
GGUF=${F16%-f16.gguf}-q4_0-pure.gguf
[ -s "$GGUF" ] || "$LL/run.sh" llama-quantize --pure "$F16" "$GGUF" Q4_0 >/dev/null 2>&1
tps() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(next(r['tokens_per_second'] for r in d['rows'] if r['mode']==sys.argv[2]))" "$@"; }
llama() { "$LL/run.sh" llama-bench -m "$GGUF" -t "$THREADS" -n 32 -p 0 -r 3 -o json 2>/dev/null \
          | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['avg_ts'])"; }
SAME=1  # the very same GGUF file in qspec (needs GGUF Q4_0 loading); falls back to the synthetic shape only
for r in $(seq 1 "$ROUNDS"); do
  a=$(llama)
  $Q bench --synthetic tinyllama-1.1b --threads "$THREADS" --modes w4a16,w4a8,qspec --synthetic-acceptance 0.99 \
     --max-tokens 32 --repeats 3 --json > "$OUT/qspec-r$r.json"
  if [ $SAME = 1 ] && ! $Q bench --model "$GGUF" --modes w4a16,w4a8 --max-tokens 32 --repeats 1 --json > "$OUT/gguf-r$r.json" 2> "$OUT/gguf-r$r.err"; then
    SAME=0; echo "(qspec could not load $GGUF: $(tail -1 "$OUT/gguf-r$r.err")); synthetic shape only)"
  fi
  w16=$(tps "$OUT/qspec-r$r.json" w4a16); w8=$(tps "$OUT/qspec-r$r.json" w4a8); qs=$(tps "$OUT/qspec-r$r.json" qspec)
  python3 - "$a" "$w16" "$w8" "$qs" "$r" <<'PY'
import sys
a, w16, w8, qs, r = map(float, sys.argv[1:6])
print(f"round {int(r)}: llama.cpp Q4_0 tg32 {a:.1f} tok/s | qspec W4A16 {w16:.1f}, W4A8 {w8:.1f}, QSpec(p=0.99) {qs:.1f}")
print(f"  W4A16/llama {w16/a:.2f}  W4A8/llama {w8/a:.2f}  QSpec/W4A16 {qs/w16:.2f}  best-exact/llama {max(w16, qs)/a:.2f}")
PY
  if [ $SAME = 1 ]; then
    g16=$(tps "$OUT/gguf-r$r.json" w4a16); g8=$(tps "$OUT/gguf-r$r.json" w4a8)
    python3 -c "import sys; a,g16,g8=map(float,sys.argv[1:]); print(f'  same GGUF in qspec: W4A16 {g16:.1f} ({g16/a:.2f}x llama), W4A8 {g8:.1f} ({g8/a:.2f}x llama)')" "$a" "$g16" "$g8"
  fi
done
for b in 4 8; do
  $Q bench --synthetic tinyllama-1.1b --threads "$THREADS" --modes w4a16,qspec --synthetic-acceptance 0.99 --batch $b \
     --max-tokens 16 --repeats 1 --json > "$OUT/qspec-b$b.json"
  python3 -c "import sys; w,q=map(float,sys.argv[1:]); print(f'B = $b: W4A16 {w:.1f} tok/s, QSpec(p=0.99, auto) {q:.1f}: QSpec/W4A16 {q/w:.2f}')" \
    "$(tps "$OUT/qspec-b$b.json" w4a16)" "$(tps "$OUT/qspec-b$b.json" qspec)"
done
