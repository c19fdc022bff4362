#!/usr/bin/env bash
# Sealed-model throughput against OpenSSL's own AES-256-GCM, one run, 1 thread:
#   openssl speed -evp aes-256-gcm [-decrypt] at the chunk size, vs bench_sealed
#   (teeinfer's loader authenticating + decrypting a 256 MiB model), and the pack time of
#   the full VGG-16 if `make bench` exported it. Writes bench/out/sealed.md.
#   bash bench/sealed_bench.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
out=$here/bench/out
mkdir -p "$out"
chunk=262144
speed_once() {  # GB/s from `openssl speed` (numbers are 1000s of bytes per second)
  openssl speed -evp aes-256-gcm "$@" -bytes $chunk -seconds 2 2>/dev/null | awk '/^AES-256-GCM/ {sub("k","",$2); printf "%.3f\n", $2 / 1e6}'
}
speed() {  # median of 3 runs: a shared machine disturbs single runs
  for i in 1 2 3; do speed_once "$@"; done | sort -n | sed -n 2p
}
echo "openssl speed (encrypt, decrypt), then the loader ..." >&2
enc=$(speed)
dec=$(speed -decrypt)
json=$("$build/bench/bench_sealed" --mib 256 --runs 5 --chunk $chunk)
dv=$(echo "$json" | sed 's/.*"decrypt_verify_gbps": \([0-9.]*\).*/\1/')
mem=$(echo "$json" | sed 's/.*"load_from_memory_gbps": \([0-9.]*\).*/\1/')
file=$(echo "$json" | sed 's/.*"load_from_file_gbps": \([0-9.]*\).*/\1/')
pack=$(echo "$json" | sed 's/.*"pack_gbps": \([0-9.]*\).*/\1/')
copy_mem=$(echo "$json" | sed 's/.*"copy_in_memory_gbps": \([0-9.]*\).*/\1/')
copy_file=$(echo "$json" | sed 's/.*"copy_in_file_gbps": \([0-9.]*\).*/\1/')
move=$(echo "$json" | sed 's/.*"move_only_gbps": \([0-9.]*\).*/\1/')
in_cache=$(echo "$json" | sed 's/.*"bulk_in_cache_gbps": \([0-9.]*\).*/\1/')
aead=$(echo "$json" | sed 's/.*"bulk_aead": "\([^"]*\)".*/\1/')
vgg="not measured (run \`make bench\` first to export build/models/vgg16.onnx)"
if [ -f "$here/build/models/vgg16.onnx" ]; then
  key=$(mktemp -u)
  "$build/teeinfer" keygen -o "$key" > /dev/null
  start=$(date +%s.%N)
  "$build/teeinfer" pack "$here/build/models/vgg16.onnx" -o /tmp/teeinfer_vgg16.tee --key "$key" --quiet > /dev/null
  vgg=$(echo "$(date +%s.%N) - $start" | bc | awk '{printf "%.2f s (ONNX import + optimise + seal 528 MiB)", $1}')
  rm -f "$key" /tmp/teeinfer_vgg16.tee
fi
ratio_dv=$(echo "$dv / $dec" | bc -l | awk '{printf "%.2f", $1}')
ratio=$(echo "$mem / $dec" | bc -l | awk '{printf "%.2f", $1}')
ratio_file=$(echo "$file / $dec" | bc -l | awk '{printf "%.2f", $1}')
ratio_move=$(echo "$move / $dec" | bc -l | awk '{printf "%.2f", $1}')
ratio_in_cache=$(echo "$in_cache / $dec" | bc -l | awk '{printf "%.2f", $1}')
cat > "$out/sealed.md" <<EOT
Sealed-model throughput, 1 thread, $chunk-byte chunks, medians of 5 runs on a 256 MiB model
(openssl: median of 3 runs; \`bash bench/sealed_bench.sh\`, $(date +%Y-%m-%d); bulk AES-GCM: $aead):

| what | GB/s | vs openssl decrypt |
|---|---:|---:|
| \`openssl speed -evp aes-256-gcm\` (encrypt) | $enc | |
| \`openssl speed -evp aes-256-gcm -decrypt\` | $dec | 1.00 |
| teeinfer bulk AES-GCM alone, as \`openssl speed\` measures (one buffer in cache, CPU time) | $in_cache | $ratio_in_cache |
| teeinfer loader: decrypt + verify (time in the cipher, per the loader's counters) | $dv | $ratio_dv |
| teeinfer loader end to end, host in memory (copy-in + decrypt + verify + open) | $mem | $ratio |
| teeinfer loader end to end, file host (pread + decrypt + verify + open) | $file | $ratio_file |
| teeinfer pack (encrypt, write) | $pack | |
| copy-in alone, host in memory (memcpy into the enclave's window) | $copy_mem | |
| copy-in alone, file host (pread into the enclave's window) | $copy_file | |
| the loader's data movement with memcpy in place of the cipher (host -> window -> destination) | $move | $ratio_move |

Full VGG-16 pack: $vgg.

The loader copies every ciphertext piece from the host into enclave memory before
decrypting it (so the host cannot change bytes between authentication and use); that copy
is what separates "decrypt + verify" from "end to end". \`openssl speed\` decrypts a
buffer already in its own memory, over and over.
EOT
cat "$out/sealed.md"
