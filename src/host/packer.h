// The packer: an optimised Graph (with its weights) -> a sealed .tee file.
//
// Runs where the plaintext model already is (the model owner's machine), never on the
// untrusted deployment host. Writes a temporary file and renames it, so an interrupted
// pack never leaves a partial model under the final name.
//
//   PackOptions o;  o.model_version = 3;
//   PackStats s = pack_model(graph, read_key_file("k.bin"), "model.tee", o);
#pragma once

#include <functional>
#include <string>

#include "common/aes_gcm.h"
#include "common/graph.h"
#include "common/sealed_format.h"

namespace teeinfer {

struct PackOptions {
  uint64_t model_version = 1;
  uint64_t chunk_bytes = kDefaultChunkBytes;  // upper bound per chunk (whole rows)
  std::function<void(uint64_t done, uint64_t total)> progress;  // weight bytes sealed
};

struct PackStats {
  uint64_t file_bytes = 0, weight_bytes = 0;
  uint32_t tensors = 0, chunks = 0;
};

PackStats pack_model(const Graph& g, const AesKey& kek, const std::string& path, const PackOptions& options);

// The manifest pack_model seals for `g`: its structure (no weight bytes) and the tensor
// table with chunks of whole rows, at most `chunk_bytes` each.
Manifest plan_manifest(const Graph& g, uint64_t chunk_bytes);

}  // namespace teeinfer
