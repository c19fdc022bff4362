// The sealed model format (.tee; its version is kSealedFormatVersion): constants, the
// header, associated data and nonces. docs/format.md is the specification; this file implements its definitions.
//
//   SealedHeader h = decode_header(first_96_bytes, file_size);   // checks every field
//   auto aad = chunk_aad(h, tensor_index, chunk_index, chunk_count, plain_bytes);
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "common/aes_gcm.h"
#include "common/graph.h"
#include "common/weight_codec.h"

namespace teeinfer {

constexpr char kSealedMagic[8] = {'T', 'E', 'E', 'I', 'N', 'F', 'E', 'R'};
constexpr uint32_t kSealedFormatVersion = 3;
constexpr size_t kHeaderBytes = 96;
constexpr size_t kWrappedKeyBytes = kNonceBytes + 32 + kTagBytes;  // 60
constexpr uint64_t kManifestOffset = kHeaderBytes + kWrappedKeyBytes;
constexpr uint32_t kDefaultChunkBytes = 256 * 1024;

struct SealedHeader {
  uint32_t format_version = kSealedFormatVersion;
  std::array<uint8_t, 16> model_id{};
  uint64_t model_version = 1;
  uint64_t manifest_bytes = 0;
  uint64_t chunks_offset = 0;
  uint32_t chunk_count = 0;
  uint64_t file_bytes = 0;
  std::array<uint8_t, 16> kek_id{};
};

std::array<uint8_t, kHeaderBytes> encode_header(const SealedHeader& h);
// Parses and checks the header against the real file size; throws Error(kBadModel).
SealedHeader decode_header(const uint8_t* bytes, uint64_t file_size);

// First 16 bytes of SHA-256(kek): names a key without revealing it.
std::array<uint8_t, 16> kek_id_of(const AesKey& kek);

std::array<uint8_t, kNonceBytes> manifest_nonce();
std::array<uint8_t, kNonceBytes> chunk_nonce(uint64_t global_chunk_index);
// A chunk's additional data: "TEEINFER-CHUNK", model id, model version, tensor index,
// chunk index, chunk count, plain bytes (docs/format.md).
constexpr size_t kChunkAadBytes = 14 + 16 + 8 + 4 * 4;
using ChunkAad = std::array<uint8_t, kChunkAadBytes>;
ChunkAad chunk_aad(const SealedHeader& h, uint32_t tensor_index, uint32_t chunk_in_tensor, uint32_t chunks_in_tensor,
                   uint32_t plain_bytes);

// Where a sealed tensor's bytes live (the constants of every shape profile name these; a
// tensor several profiles share is stored once).
struct SealedTensor {
  uint64_t bytes = 0, row_bytes = 0, rows_per_chunk = 1;
  uint32_t first_chunk = 0, chunk_count = 0;
  // Compressed chunks (pack --compress): each chunk's stored (encrypted) size; a stored
  // size equal to the plain size means that chunk is stored as it is. Empty with kNone.
  Codec codec = Codec::kNone;
  std::vector<uint32_t> stored_bytes = {};
  uint32_t chunk_plain_bytes(uint32_t chunk_in_tensor) const;
  uint32_t chunk_stored_bytes(uint32_t chunk_in_tensor) const;
  uint64_t stored_total() const;  // all chunks as stored
  bool chunk_compressed(uint32_t k) const { return chunk_stored_bytes(k) != chunk_plain_bytes(k); }
};
// Largest chunk the format allows (plaintext), so one chunk always fits a small budget.
constexpr uint64_t kMaxChunkBytes = uint64_t{1} << 30;

// A model instantiated for one set of concrete input dims (a shape profile, as TensorRT's
// optimization profiles): its graph without constant bytes, and for each of its constants
// the sealed tensor that holds them.
constexpr uint32_t kNoTensor = UINT32_MAX;
struct ShapeProfile {
  Graph graph;
  std::vector<uint32_t> tensor_of_value;  // per value: a tensor index, kNoTensor if not constant
};
// Most shape profiles one model may hold (each is a whole graph in the manifest).
constexpr uint32_t kMaxProfiles = 64;

// The manifest's plaintext: the shape profiles and the tensor table they share.
// An integer or bool graph input bound to a value when the model was packed (`pack
// --input-value sr=16000`): what it selected folded at import, and a run given that input
// must give this value.
struct BoundInput {
  std::string name;
  DType dtype = DType::kI64;
  Dims dims;
  std::vector<uint8_t> data;
};
constexpr size_t kMaxBoundInputs = 16, kMaxBoundInputElements = 64;

struct Manifest {
  std::vector<ShapeProfile> profiles;
  std::vector<SealedTensor> tensors;
  std::vector<BoundInput> bound_inputs;  // written only when there are any
};

// A profile's input dims, in graph input order: what a run matches against.
std::vector<Dims> profile_input_dims(const Graph& g);

// Throws Error(kBadArgument) for a value that cannot be bound (float, empty, too many values).
void check_bound_input(const BoundInput& b);
std::vector<uint8_t> encode_manifest(const Manifest& m);
// Parses untrusted bytes with every count and length bounded, then validates every
// profile's graph and the tensor table (every constant names a tensor of its size, every
// tensor is used, chunks contiguous).
Manifest decode_manifest(const uint8_t* bytes, size_t n, uint32_t chunk_count);

}  // namespace teeinfer
