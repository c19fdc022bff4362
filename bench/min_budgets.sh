#!/usr/bin/env bash
# Smallest secure-memory budget the planner can fit, per full-size model, sealed (the
# TEE case: weights decrypted through staging) and as plain ONNX. Needs the models that
# `make bench` exports to build/models. Writes bench/out/min_budgets.md.
#   bash bench/min_budgets.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
out=$here/bench/out
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/teeinfer" keygen -o "$work/k.bin" > /dev/null
min_of() { "$build/teeinfer" plan "$@" --json | sed -n 's/.*"min_budget_bytes": \([0-9]*\).*/\1/p'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
{
  echo "Minimum feasible budget (MiB), fp32, batch 1, \`bash bench/min_budgets.sh\`, $(date +%F)."
  echo
  echo "| model | sealed .tee | plain ONNX | all weights resident (sealed) |"
  echo "|---|---:|---:|---:|"
  for m in vgg16 resnet18 resnet50 mobilenet_v2 squeezenet1_1 alexnet densenet121; do
    onnx=$here/build/models/$m.onnx
    [ -f "$onnx" ] || { echo "missing $onnx: run \`make bench\` first" >&2; exit 1; }
    echo "  $m" >&2
    "$build/teeinfer" pack "$onnx" -o "$work/$m.tee" --key "$work/k.bin" --quiet > /dev/null
    sealed=$(min_of "$work/$m.tee" --key "$work/k.bin")
    plain=$(min_of "$onnx")
    resident=$("$build/teeinfer" plan "$work/$m.tee" --key "$work/k.bin" --json | sed -n 's/.*"arena_bytes": \([0-9]*\).*/\1/p')
    echo "| $m | $(mib "$sealed") | $(mib "$plain") | $(mib "$resident") |"
  done
} > "$out/min_budgets.md"
cat "$out/min_budgets.md"
