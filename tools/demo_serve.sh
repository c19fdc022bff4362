#!/usr/bin/env bash
# The serving half of `make demo` (also `make demo-serve`): a model repository made from
# the bundled model, sealed for batches of 1, 2, 4 and 8; `teeinfer serve` on it in an
# emulated 8 MiB EPC on a free loopback port; `teeinfer client` classifying the bundled
# image through it (JSON, then binary tensors); the server's metrics; SIGTERM. Then the
# attested flow (docs/attestation.md): a key broker holding the model key, a server with
# no key on disk that obtains it by attestation, and an end-to-end encrypted request whose
# receipt the client verifies.
#   tools/demo_serve.sh BUILD_DIR
set -euo pipefail
BUILD=${1:-build}
T=$BUILD/teeinfer

# The URL a service started in the background prints on its first line ("listening on
# http://..."), once it has; the log is shown either way, and no URL stops the demo.
url_of() {
  for _ in $(seq 1 200); do grep -q "listening on" "$1" && break; sleep 0.05; done
  cat "$1" >&2
  local url
  url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$1")
  [ -n "$url" ] || { echo "$1: the service did not start" >&2; exit 1; }
  echo "$url"
}
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
URL=$(url_of "$LOG")

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

echo "== 10. attestation: the trusted core's measurement (what a key broker and a client pin) =="
$T measure
MEASUREMENT=$($T measure --json | sed -n 's/.*"measurement": "\([0-9a-f]*\)".*/\1/p')
A=$BUILD/demo/attest
rm -rf "$A"
mkdir -p "$A/keys" "$A/repository/fmnist/1"
$T keygen -o "$A/owner.key" --force
$T pack models/fmnist_vgg.onnx -o "$A/repository/fmnist/1/model.tee" --key "$A/owner.key" --model-version 2 --quiet
MODEL_ID=$($T inspect "$A/repository/fmnist/1/model.tee" --json | sed -n 's/.*"model_id": "\([0-9a-f]*\)".*/\1/p')
cp "$A/owner.key" "$A/keys/$MODEL_ID.key"
echo '{}' > "$A/repository/fmnist/config.json"
cat > "$A/policy.json" <<POLICY
{"allow_simulated": true, "min_security_version": 1,
 "measurements": {"$MEASUREMENT": {"models": ["$MODEL_ID"]}},
 "models": {"$MODEL_ID": {"min_version": 2}}}
POLICY
echo "{\"measurements\": [\"$MEASUREMENT\"], \"min_security_version\": 1}" > "$A/client-policy.json"
echo "-- the key broker holds the model key; its policy releases it to this measurement only (simulated evidence allowed: this is the emulated TEE)"
$T keyserver --policy "$A/policy.json" --keys "$A/keys" --audit-log "$A/audit.jsonl" --port 0 > "$A/keyserver.log" 2>&1 &
KPID=$!
trap 'kill $KPID 2>/dev/null || true' EXIT
KURL=$(url_of "$A/keyserver.log")

echo "== 11. teeinfer serve --key-server: no key on disk; the enclave attests and receives the model key =="
ls "$A/repository/fmnist" "$A/repository/fmnist/1"
$T serve --model-repository "$A/repository" --port 0 --tee sim --epc 8MiB --access-log '' --key-server "$KURL" > "$A/serve.log" 2>&1 &
SPID=$!
trap 'kill $KPID $SPID 2>/dev/null || true' EXIT
SURL=$(url_of "$A/serve.log")
echo "-- the key broker's audit log:"
cat "$A/audit.jsonl"

echo "== 12. teeinfer client --verify: evidence checked step by step, the request encrypted to the enclave, the receipt verified =="
$T client "$SURL" --model fmnist --input models/sample_0_ankle_boot.png --class-names models/fashion_mnist_classes.txt --top 1 \
  --verify "$A/client-policy.json" --allow-simulated
echo "-- without --allow-simulated the same client refuses the emulated TEE's evidence (fail closed):"
if $T client "$SURL" --model fmnist --input models/sample_0_ankle_boot.png --verify "$A/client-policy.json" 2>&1 | tail -n 1; then :; fi
kill -TERM $SPID $KPID
wait $SPID $KPID
trap - EXIT
