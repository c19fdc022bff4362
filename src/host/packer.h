// The packer: an optimised Graph (with its weights) -> a sealed .tee file.
//
// Runs where the plaintext model already is (the model owner's machine), never on the
// untrusted deployment host. Writes through AtomicFileWriter (host/file_io.h): an
// interrupted pack leaves neither a partial model under the final name nor a temporary file.
//
//   SealOptions o;  o.model_version = 3;
//   PackStats s = pack_model(graph, read_key_file("k.bin"), "model.tee", o);
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>

#include "common/aes_gcm.h"
#include "common/bulk_aead.h"
#include "common/graph.h"
#include "common/sealed_format.h"

namespace teeinfer {

// Weight compression: one codec for every tensor, or `auto_codec` to pick per tensor the
// codec (or none) whose decrypt + decode is fastest on this machine (choose_codec).
struct SealOptions {
  uint64_t model_version = 1;
  // Written into the header, in the clear but authenticated; a run can pin it
  // (SealedLoadOptions::expected_model_id). Empty: a random id for this pack.
  std::optional<std::array<uint8_t, 16>> model_id;
  uint64_t chunk_bytes = kDefaultChunkBytes;  // upper bound per chunk (whole rows)
  Codec codec = Codec::kNone;
  bool auto_codec = false;
  // Integer inputs the graphs were imported with bound to values (recorded in the manifest).
  std::vector<BoundInput> bound_inputs;
  std::function<void(uint64_t done, uint64_t total)> progress;  // weight bytes sealed
};

struct PackStats {
  uint64_t file_bytes = 0, weight_bytes = 0, stored_weight_bytes = 0;  // plain and as stored (compressed)
  uint32_t tensors = 0, chunks = 0, compressed_tensors = 0;
  std::array<uint8_t, 16> model_id{};  // as written in the header
};

// Rates that decide whether a codec pays: bytes per second of copy-in + authenticated
// decryption, measured here with the enclave's own code path.
double measure_decrypt_rate();
// For one tensor's chunks: the codec (kNone if none pays) and its encoded chunks (an
// empty chunk: stored as it is). `auto` times each codec's decoder on these very chunks.
struct EncodedTensor {
  Codec codec = Codec::kNone;
  std::vector<std::vector<uint8_t>> chunks;
};
EncodedTensor encode_tensor(const SealedTensor& t, const uint8_t* plain, Codec codec);
EncodedTensor choose_codec(const SealedTensor& t, const uint8_t* plain, double decrypt_rate);

PackStats pack_model(const Graph& g, const AesKey& kek, const std::string& path, const SealOptions& options);
// A model instantiated for several input shapes (shape profiles, in this order; a run
// picks the one matching its inputs): weights the profiles share are sealed once.
PackStats pack_model(const std::vector<const Graph*>& profiles, const AesKey& kek, const std::string& path,
                     const SealOptions& options);

// The manifest pack_model seals for `g`: its structure (no weight bytes) and the tensor
// table with chunks of whole rows, at most `chunk_bytes` each.
Manifest plan_manifest(const Graph& g, uint64_t chunk_bytes);
// For several profiles: a constant equal to one already sealed (same dtype, dims and
// bytes, read the same way) names that tensor. `plaintext` gets each tensor's bytes (in
// the profiles' graphs).
Manifest plan_manifest(const std::vector<const Graph*>& profiles, uint64_t chunk_bytes,
                       std::vector<const uint8_t*>& plaintext);

}  // namespace teeinfer
