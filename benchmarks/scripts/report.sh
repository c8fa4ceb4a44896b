#!/usr/bin/env bash
# Reproduces the speed numbers in docs/results.md (about 4 minutes on 2 cores; with compare-llama-cpp.sh about 10):
#   1. roofline + CPU kernel table (qspec bench --kernels),
#   2. stories260K plain decode against llama.cpp t = 1 on the same model, A B A B,
#   3. synthetic TinyLlama-1.1B (G = 32 scales, as GGUF Q4_0; --group-size 0 for per channel) forward costs (c, v[k])
#      and QSpec with auto k / auto draft at SYNTHETIC acceptance. bench tok/s are decode only (prefill excluded).
# QUALITY=1 also redoes the quantization / perplexity / real-acceptance tables (another ~10 minutes).
# LLAMA_CPP_BIN: llama.cpp binaries built for this machine (see compare-llama-cpp.sh); the prebuilt ones need AVX-512.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${QSPEC_MODELS:-../shared}; export QSPEC_MODELS=$SHARED
dotnet build samples/QSpec.Cli -c Release -v q -nologo >/dev/null
Q="dotnet samples/QSpec.Cli/bin/Release/net10.0/qspec.dll"
OUT=${OUT:-artifacts/report}; mkdir -p "$OUT"
$Q bench --kernels | tee "$OUT/kernels.txt"
# llama-bench on stories260K; a binary that cannot run here (SIGILL: built for another CPU) is reported, not fatal.
llama_bench() {
  local rc=0 out
  if [ -n "${LLAMA_CPP_BIN:-}" ]; then
    out=$(LD_LIBRARY_PATH="$LLAMA_CPP_BIN" "$LLAMA_CPP_BIN/llama-bench" "$@" 2>/dev/null) || rc=$?
  else
    out=$("$SHARED/tools/llama.cpp/run.sh" llama-bench "$@" 2>/dev/null) || rc=$?
  fi
  if [ $rc -ne 0 ]; then echo "llama-bench failed (exit $rc$( [ $rc -eq 132 ] && echo ': SIGILL, built for another CPU; set LLAMA_CPP_BIN'))"; else grep tg256 <<< "$out" || true; fi
}
for r in 1 2; do
  llama_bench -m "$SHARED/models/stories260K/stories260K-f32.gguf" -t 1 -n 256 -p 0 -r 3
  $Q bench --threads 1 --modes fp32,w4a16,w4a8 --max-tokens 256 --repeats 3 | grep -E '^(fp32|w4a16|w4a8) '
done | tee "$OUT/stories260k-vs-llama.txt"
$Q bench --synthetic tinyllama-1.1b --forward-only --repeats 5 | tee "$OUT/tinyllama-forward.txt"
# SYNTHETIC acceptance (timing only): 0.81 per token ~ 2.0 of 3 accepted (stories260K's W4A4 rate), 0.99 ~ its W4A8 rate.
for p in 0.81 0.99; do
  for b in 1 4; do
    $Q bench --synthetic tinyllama-1.1b --modes w4a16,w4a8,qspec --synthetic-acceptance $p --batch $b --max-tokens 32 --repeats 1 \
      | tee "$OUT/tinyllama-qspec-p$p-b$b.txt" | tail -4
  done
done
if [ "${QUALITY:-0}" = 1 ]; then
  DATA=${DATA:-$SHARED/data/tinystories-valid/tinystories_valid_head.txt}
  for g in 0 64; do
    for rot in "" "--rotate"; do
      name="gptq-g$g${rot:+-rot}"
      $Q quantize --out "$OUT/$name.qspec" --method gptq --group-size $g $rot 2>/dev/null
      for mode in w4a16 w4a8 w4a4; do
        echo "$name $mode $($Q perplexity --model "$OUT/$name.qspec" --data "$DATA" --paragraphs 200 --mode $mode --json)"
      done
    done
  done | tee "$OUT/perplexity.txt"
  echo "fp32 fp32 $($Q perplexity --data "$DATA" --paragraphs 200 --mode fp32 --json)" | tee -a "$OUT/perplexity.txt"
  for name in gptq-g0-rot gptq-g64-rot; do
    for b in 1 8; do
      for bits in 4 8; do
        $Q bench --model "$OUT/$name.qspec" --modes w4a16,w4a$bits,qspec --draft-bits $bits --draft-length 3 --batch $b --max-tokens 128 \
          | tee "$OUT/bench-$name-b$b-a$bits.txt"
      done
      $Q bench --model "$OUT/$name.qspec" --modes w4a16,qspec --batch $b --max-tokens 128 | tee "$OUT/bench-$name-b$b-auto.txt"
    done
  done
fi
