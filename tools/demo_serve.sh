#!/usr/bin/env bash
# The serving half of `make demo` (also `make demo-serve`): a model repository made from
# the bundled model, sealed for batches of 1, 2, 4 and 8; `teeinfer serve` on it in an
# emulated 8 MiB EPC on a free loopback port; `teeinfer client` classifying the bundled
# image through it (JSON, then binary tensors); the server's metrics; SIGTERM.
#   tools/demo_serve.sh BUILD_DIR
set -euo pipefail
BUILD=${1:-build}
T=$BUILD/teeinfer
REPO=$BUILD/demo/repository
rm -rf "$REPO"
mkdir -p "$REPO/fmnist/1"
echo "== 6. a model repository: $REPO/fmnist/{config.json,k.bin,1/model.tee} (sealed for batches 1, 2, 4, 8) =="
$T keygen -o "$REPO/fmnist/k.bin" --force
$T pack models/fmnist_vgg.onnx -o "$REPO/fmnist/1/model.tee" --key "$REPO/fmnist/k.bin" --input-shape '{1,2,4,8}x1x28x28' --quiet
echo '{"key_file": "k.bin", "max_batch": 8}' > "$REPO/fmnist/config.json"
cat "$REPO/fmnist/config.json"

echo "== 7. teeinfer serve: the Open Inference Protocol over the repository, every model in one emulated 8 MiB EPC =="
LOG=$BUILD/demo/serve.log
$T serve --model-repository "$REPO" --port 0 --tee sim --epc 8MiB --access-log "$BUILD/demo/access.log" > "$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do grep -q "listening on" "$LOG" && break; sleep 0.05; done
cat "$LOG"
URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$LOG")
[ -n "$URL" ] || { echo "the server did not start"; exit 1; }

echo "== 8. teeinfer client: the bundled image through the server (JSON tensors, then binary) =="
$T client "$URL" --model fmnist --input models/sample_0_ankle_boot.png --class-names models/fashion_mnist_classes.txt --top 3
$T client "$URL" --model fmnist --input models/sample_0_ankle_boot.png --class-names models/fashion_mnist_classes.txt --top 1 --binary
echo "-- what the host's access log holds (no payloads):"
tail -n 1 "$BUILD/demo/access.log"
echo "-- metrics: secure memory, decryption and the EPC pager"
curl -s "$URL/metrics" | grep -E '^teeinfer_(secure_memory|arena|weight_bytes|epc_evictions|runs)'

echo "== 9. SIGTERM: the server finishes what it accepted and exits 0 =="
kill -TERM $PID
wait $PID
trap - EXIT
tail -n 2 "$LOG"
