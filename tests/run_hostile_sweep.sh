#!/usr/bin/env bash
# Runs `plan`, `pack`, `prune` and `run` on every hostile ONNX model of tests/onnx_builder.cpp
# (or on the .onnx files of a directory) under the acceptance limits: 4 GiB of address
# space and 60 s per command, with the default memory limit. Prints one line per command
# and fails unless every command exits 0 or 1 with at most a one-line message.
# (test_hostile_models runs the same sweep in `make test`, with --max-memory 256MiB to stay fast.)
#   tests/run_hostile_sweep.sh BUILD_DIR [MODEL_DIR]
set -uo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
models=${2:-$work/models}
if [ $# -lt 2 ]; then
  mkdir -p "$models"
  "$build/tests/write_hostile_models" "$models" || exit 1
fi
"$build/teeinfer" keygen -o "$work/k.bin" > /dev/null || exit 1
# A {1,1,4,4} float32 .npy of zeros: the input most of the models declare.
python3 - "$work/x.npy" <<'PY'
import struct, sys
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 4, 4), }"
header += " " * (63 - (10 + len(header)) % 64) + "\n"
open(sys.argv[1], "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(64))
PY
bad=0
for model in "$models"/*.onnx; do
  name=$(basename "$model" .onnx)
  for cmd in plan pack prune run; do
    case $cmd in
      plan) args=(plan "$model") ;;
      pack) args=(pack "$model" -o "$work/out.tee" --key "$work/k.bin" --quiet) ;;
      prune) args=(prune "$model" -o "$work/out.onnx") ;;
      run) args=(run "$model" --input "$work/x.npy" --repeat 1 --warmup 0) ;;
    esac
    start=$(date +%s.%N)
    (ulimit -v 4194304; exec timeout 60 "$build/teeinfer" "${args[@]}") > /dev/null 2> "$work/err"
    rc=$?
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    lines=$(wc -l < "$work/err")
    verdict=ok
    if { [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; } || { [ "$rc" -eq 1 ] && [ "$lines" -ne 1 ]; } ||
       { [ "$rc" -eq 0 ] && [ "$lines" -ne 0 ]; } || grep -q "internal error" "$work/err"; then
      verdict=BAD
      bad=$((bad + 1))
    fi
    printf '%-4s %-42s %-6s exit %-3s %5.1fs  %s\n' "$verdict" "$name" "$cmd" "$rc" "$seconds" \
      "$(head -c 160 "$work/err" | head -1)"
  done
done
echo "$bad bad outcomes"
[ "$bad" -eq 0 ]
