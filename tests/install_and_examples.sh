#!/usr/bin/env bash
# The installed package works for a C++ user: `cmake --install` into a scratch prefix, then
# examples/ configured as a separate project with find_package(teeinfer), built, and both
# programs run on the bundled model (one classifies an image, one seals the model and runs
# it in a 1 MiB emulated EPC). Also the pkg-config file compiles and links a program.
#   install_and_examples.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
test -f "$work/prefix/include/teeinfer/teeinfer.h"
cmake -S "$src/examples" -B "$work/examples" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$work/examples" -j2 > /dev/null
export LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$work/examples/classify_image" "$src/models/fmnist_vgg.onnx" "$src/models/sample_0_ankle_boot.png" | tee "$work/classify.txt"
grep -q "class 9 " "$work/classify.txt"  # an ankle boot
"$work/examples/sealed_in_epc" "$src/models/fmnist_vgg.onnx" "$work" 1MiB
# pkg-config: the same header and library, no CMake.
pc_dir=$(dirname "$(find "$work/prefix" -name teeinfer.pc | head -1)")
cat > "$work/pc.cpp" <<'CPP'
#include <teeinfer/teeinfer.h>
#include <cstdio>
int main() { std::printf("teeinfer %s\n", teeinfer::version()); return 0; }
CPP
g++ "$work/pc.cpp" -o "$work/pc" $(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs teeinfer)
"$work/pc"
echo "install_and_examples: ok"
