#!/usr/bin/env bash
# Checks that the trusted core's measurement is reproducible (docs/attestation.md, "The
# measurement"): two clean Release builds of this source tree, in build directories at
# different paths (of different lengths), with no compiler cache, must generate the same
# code hash (kTrustedCodeHash in generated/trusted_code_hash.h). Only the target
# teeinfer_measurement is built: the three trusted libraries and the header. Both builds
# are of one snapshot of the working tree (the files git tracks or would track, as they are
# now), so edits made while the check runs cannot make the two differ.
#
#   tools/check_reproducible_measurement.sh [MAIN_BUILD_DIR]     (JOBS=N: parallel jobs, default 2)
#
# On a difference it prints the diff of the two manifests (kTrustedCodeManifest), which names
# each object, library or setting whose hash differs, and exits 1. With MAIN_BUILD_DIR (a
# Release build of the same sources, as `make test` has just made) that build is one of the
# two: only one more clean build is made here and compared with it. The snapshot and the
# build directories are removed at the end.
set -euo pipefail
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: tools/check_reproducible_measurement.sh [BUILD_DIR]   (JOBS=N: parallel compiles; default 2)"
  echo "Builds the trusted core from a snapshot of this tree without ccache, twice in two directories (once if"
  echo "BUILD_DIR is given: it is then compared with BUILD_DIR's); exits 1 naming the objects that differ."
  exit 0
fi

src=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-2}
main_build=${1:-}
tmp=${TMPDIR:-/tmp}
header=generated/trusted_code_hash.h

snapshot=$(mktemp -d "$tmp/teeinfer-repro-src.XXXXXX")
base_a=$(mktemp -d "$tmp/teeinfer-repro-a.XXXXXX")
base_b=$(mktemp -d "$tmp/teeinfer-repro-b.XXXXXX")
trap 'rm -rf "$snapshot" "$base_a" "$base_b"' EXIT
dir_a=$base_a/build
dir_b=$base_b/some/other/dir

# No compiler cache: each object is compiled here, not fetched from an earlier build.
export CCACHE_DISABLE=1
unset CMAKE_CXX_COMPILER_LAUNCHER CMAKE_C_COMPILER_LAUNCHER

# The snapshot: tracked and untracked (not ignored) files; without git, all but build*/.
take_snapshot() {
  if git -C "$src" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    (cd "$src" && git ls-files -co --exclude-standard -z | tar --null --ignore-failed-read -T - -cf - 2> /dev/null) |
      tar -xf - -C "$snapshot"
  else
    (cd "$src" && tar --exclude='./build*' -cf - .) | tar -xf - -C "$snapshot"
  fi
  echo "== sources: a snapshot of $src in $snapshot ($(cd "$snapshot" && find src include cmake CMakeLists.txt -type f -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16), SHA-256 of src, include, cmake, CMakeLists.txt)"
}

build() {  # build DIR
  echo "== configuring and building teeinfer_measurement in $1 ($(date +%T))"
  mkdir -p "$1"
  cmake -S "$snapshot" -B "$1" -DCMAKE_BUILD_TYPE=Release -DTEEINFER_TESTS=OFF -DCMAKE_CXX_COMPILER_LAUNCHER= \
    > "$1/repro-configure.log" 2>&1 || { cat "$1/repro-configure.log"; exit 1; }
  cmake --build "$1" -j"$jobs" --target teeinfer_measurement > "$1/repro-build.log" 2>&1 ||
    { tail -50 "$1/repro-build.log"; exit 1; }
}

code_hash() {  # code_hash HEADER
  sed -n 's/^inline constexpr const char kTrustedCodeHash\[\] = "\([0-9a-f]*\)";$/\1/p' "$1"
}

manifest() {  # manifest HEADER: one line per object, library and setting
  sed -n '/kTrustedCodeManifest/,$p' "$1" | sed -n 's/^ *"\(.*\)\\n"[;]*$/\1/p'
}

compare() {  # compare NAME_A HEADER_A NAME_B HEADER_B
  local a b
  a=$(code_hash "$2")
  b=$(code_hash "$4")
  if [ -z "$a" ] || [ -z "$b" ]; then
    echo "no kTrustedCodeHash in $2 or $4" >&2
    exit 1
  fi
  if [ "$a" != "$b" ]; then
    echo "NOT reproducible: $1 $a, $3 $b; what differs (- $1, + $3):"
    diff -u --label "$1" --label "$3" <(manifest "$2") <(manifest "$4") | tail -n +3 | grep '^[-+]' || true
    return 1
  fi
}

start=$(date +%s)
take_snapshot
build "$dir_a"
# With a main build, it is the second of the two builds: one clean build is enough here.
if [ -z "$main_build" ]; then
  build "$dir_b"
fi
elapsed=$(($(date +%s) - start))

echo "build A ($dir_a): $(code_hash "$dir_a/$header")"
echo "objects measured: $(sed -n 's/^inline constexpr int kTrustedObjectCount = \([0-9]*\);$/\1/p' "$dir_a/$header")"
status=0
if [ -z "$main_build" ]; then
  echo "build B ($dir_b): $(code_hash "$dir_b/$header")"
  compare "build A" "$dir_a/$header" "build B" "$dir_b/$header" || status=1
fi
if [ -n "$main_build" ]; then
  if [ -f "$main_build/$header" ]; then
    echo "main build ($main_build): $(code_hash "$main_build/$header")"
    compare "build A" "$dir_a/$header" "main build" "$main_build/$header" ||
      { echo "(is $main_build up to date with these sources, in Release, with the same options?)"; status=1; }
  else
    echo "$main_build/$header does not exist: build $main_build first" >&2
    status=1
  fi
fi
echo "$([ -z "$main_build" ] && echo "two clean builds" || echo "one clean build") in ${elapsed} s with -j$jobs"
[ "$status" -eq 0 ] && echo "reproducible"
exit "$status"
