#!/usr/bin/env bash
# Runs one libFuzzer target for N seconds from its seed directories; prints executions,
# coverage and crashes, and fails on any crash, leak, timeout or out-of-memory.
#   run_fuzz.sh TARGET_BINARY SECONDS SEED_DIR...
# Seed directories that do not exist are skipped. New inputs go to a scratch corpus, so the
# committed seeds are never modified.
set -euo pipefail
target=$1 seconds=$2
shift 2
name=$(basename "$target")
corpus=$(mktemp -d)
artifacts=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
seeds=()
for d in "$@"; do [ -d "$d" ] && seeds+=("$d"); done
# Any sanitizer report is a failure: UBSan recovers by default, so make it stop.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
set +e
"$target" "$corpus" "${seeds[@]}" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
  -timeout=25 -artifact_prefix="$artifacts/" 2> "$artifacts/log"
rc=$?
set -e
grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$artifacts/log" || true
grep -E "^#[0-9]+" "$artifacts/log" | tail -1 || true
crashes=$(find "$artifacts" -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)
echo "$name: ${seconds}s, exit $rc, crashes $crashes"
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
  tail -60 "$artifacts/log"
  echo "artifacts in $artifacts"
  exit 1
fi
rm -rf "$artifacts"
