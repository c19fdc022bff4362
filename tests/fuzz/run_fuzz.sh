#!/usr/bin/env bash
# Runs the sealed-loader fuzz target for N seconds from fresh seeds; prints executions and
# crashes, and fails on any crash.   run_fuzz.sh BUILD_DIR SECONDS SOURCE_DIR
set -euo pipefail
build=$1 seconds=$2 src=$3
corpus=$(mktemp -d)
artifacts=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
"$build/write_seeds" "$src/tests/data/tiny_sealed.onnx" "$corpus"
set +e
"$build/fuzz_sealed_loader" "$corpus" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
  -artifact_prefix="$artifacts/" 2> "$artifacts/log"
rc=$?
set -e
grep -E "stat::number_of_executed_units|stat::peak_rss_mb|cov:" "$artifacts/log" | tail -3 || true
crashes=$(find "$artifacts" -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)
echo "fuzz_sealed_loader: ${seconds}s, exit $rc, crashes $crashes"
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
  tail -40 "$artifacts/log"
  echo "artifacts in $artifacts"
  exit 1
fi
rm -rf "$artifacts"
