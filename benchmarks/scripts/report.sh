#!/usr/bin/env bash
# Reproduces the numbers in docs/results.md: quantized stories260K files, perplexity per mode, QSpec acceptance and
# throughput at B = 1 and 8, and the synthetic TinyLlama-1.1B forward costs and throughput. About 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build samples/QSpec.Cli -c Release -v q -nologo >/dev/null
Q="dotnet samples/QSpec.Cli/bin/Release/net10.0/qspec.dll"
OUT=${OUT:-artifacts/report}; mkdir -p "$OUT"
DATA=${DATA:-${QSPEC_MODELS:-../shared}/data/tinystories-valid/tinystories_valid_head.txt}
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
    $Q bench --model "$OUT/$name.qspec" --modes w4a16,w4a4,qspec --batch $b --max-tokens 128 | tee "$OUT/bench-$name-b$b.txt"
  done
done
$Q bench --synthetic tinyllama-1.1b --forward-only --repeats 9 | tee "$OUT/tinyllama-forward.txt"
# QSpec on the TinyLlama shape at stories260K's measured acceptance: mean accepted length ~2.0 of k = 3 drafts,
# i.e. a per-token conditional acceptance p with p + p^2 + p^3 = 2.0 (p = 0.81). SYNTHETIC: timing only.
for b in 1 8; do
  $Q bench --synthetic tinyllama-1.1b --modes w4a16,w4a4,qspec --synthetic-acceptance 0.81 --batch $b --max-tokens 32 --repeats 5 \
    | tee "$OUT/tinyllama-qspec-b$b.txt"
done
$Q bench --synthetic tinyllama-1.1b --modes qspec --draft-length auto --synthetic-acceptance 0.81 --max-tokens 64 --repeats 3 \
  | tee "$OUT/tinyllama-qspec-auto.txt"
