#!/usr/bin/env bash
# Installs everything teeinfer needs on Debian 12 (run as root). Idempotent: packages
# already present are skipped by apt. Python tools (model export, training) need the
# `python` set; the C++ build and tests need only `build` (and the npm packages of
# tools/hpke-interop, installed in both cases).
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config git
  libdnnl-dev                       # oneDNN kernels
  libssl-dev libzstd-dev liblz4-dev # crypto and codecs
  libzip-dev                        # .npz outputs (run --output FILE.npz)
  libipsec-mb-dev                   # bulk AES-256-GCM (VAES-512 where the CPU has it)
  libonnx-dev libprotobuf-dev protobuf-compiler
  libcli11-dev nlohmann-json3-dev libspdlog-dev libstb-dev
  libcpp-httplib-dev curl           # teeinfer serve and client (OIP v2 REST); curl for the demo
  python3-yaml                      # tests/deploy: the KServe manifests parsed
  libpng-dev libjpeg-dev            # image inputs (zlib1g-dev comes with libpng-dev)
  libgtest-dev libgmock-dev libbenchmark-dev
  libonnx-testdata dataset-fashion-mnist
  clang-14 libclang-rt-14-dev clang-format
)
python_pkgs=(python3-torch python3-torchvision python3-onnx python3-numpy python3-matplotlib python3-sklearn)

want=("${build_pkgs[@]}")
if [ "${1:-all}" != "build" ]; then want+=("${python_pkgs[@]}"); fi

export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#want[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# tests/test_hpke checks our HPKE against npm's @hpke packages, run by /usr/bin/node from
# tools/hpke-interop, at the exact versions of its package-lock.json (npm ci; no install
# scripts). An existing Node and npm are used as they are (Node may come from outside apt,
# where Debian's npm would clash); Debian's nodejs and npm only when there is none.
interop="$(cd "$(dirname "$0")" && pwd)/hpke-interop"
if [ "$interop/package-lock.json" -nt "$interop/node_modules/.package-lock.json" ]; then  # missing or stale
  if ! command -v npm >/dev/null || [ ! -x /usr/bin/node ]; then
    echo "install-deps: installing nodejs npm"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  echo "install-deps: npm ci in $interop"
  npm ci --ignore-scripts --no-audit --no-fund --prefix "$interop"
fi
