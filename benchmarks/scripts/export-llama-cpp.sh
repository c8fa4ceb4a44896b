#!/usr/bin/env bash
# Exports stories260K (or --model M) to GGUF Q4_0 with `qspec quantize --out M.gguf --group-size 32` and runs the very
# file in llama.cpp's llama-cli and in qspec (W4A16), greedy, 32 tokens, printing both texts and their common prefix.
# llama.cpp's CPU Q4_0 path quantizes activations to 8 bits (W4A8), so its text may leave qspec's W4A16 text after a
# while; the weights are the same (tests/QSpec.Core.Tests/Model/GgufExportTests.cs checks the file round trip bit for bit).
#   benchmarks/scripts/export-llama-cpp.sh [--method rtn|gptq] [--model PATH] [--prompt TEXT]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${QSPEC_MODELS:-}" ]; then # as SharedData: the first ../shared (holding models/) walking up from the repository
  dir=$root; while [ "$dir" != / ] && [ ! -d "$dir/../shared/models" ]; do dir=$(dirname "$dir"); done
  QSPEC_MODELS=$(cd "$dir/../shared" 2>/dev/null && pwd) || { echo "export-llama-cpp.sh: set QSPEC_MODELS" >&2; exit 1; }
fi
export QSPEC_MODELS
llama=${LLAMA_CPP:-$QSPEC_MODELS/tools/llama.cpp/run.sh}
method=rtn; model=(); prompt="Once upon a time"
while [ $# -gt 0 ]; do
  case $1 in
    --method) method=$2; shift 2 ;;
    --model) model=(--model "$2"); shift 2 ;;
    --prompt) prompt=$2; shift 2 ;;
    *) echo "export-llama-cpp.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$llama" ] || { echo "export-llama-cpp.sh: llama.cpp not found at $llama (set LLAMA_CPP)" >&2; exit 1; }
out=$(mktemp -d /tmp/qspec-export-XXXXXX); trap 'rm -rf "$out"' EXIT
dotnet build "$root/samples/QSpec.Cli" -c Release -v q -nologo >/dev/null
qspec=(dotnet "$root/samples/QSpec.Cli/bin/Release/net10.0/qspec.dll")
"${qspec[@]}" quantize "${model[@]}" --out "$out/M.gguf" --group-size 32 --method "$method" >&2
llama_text=$("$llama" llama-cli -m "$out/M.gguf" -p "$prompt" -n 32 --temp 0 -no-cnv 2>"$out/llama.log" | sed 's/^ //')
grep -E "type +(f32|q4_0)|file type" "$out/llama.log" >&2 || true
qspec_text=$("${qspec[@]}" generate --model "$out/M.gguf" --prompt "$prompt" --max-tokens 32 --mode w4a16 2>/dev/null)
echo "llama.cpp: $llama_text"
echo "qspec:     $qspec_text"
common=0; while [ $common -lt ${#llama_text} ] && [ "${llama_text:$common:1}" = "${qspec_text:$common:1}" ]; do common=$((common + 1)); done
echo "common prefix: $common of ${#qspec_text} characters"
