// The trusted loader of sealed models (.tee, docs/format.md).
//
// Construction reads the header, the wrapped data key and the manifest through
// HostInterface, authenticates them, and checks the manifest's graph and tensor table.
// Weights stay sealed until the EnclaveSession asks for them: as its WeightSource, this class
// reads one chunk at a time into arena scratch and decrypts it into the arena.
//
//   FileHost host("model.tee");  KeyFile keys("k.bin");
//   SealedModel model(host, keys, {/*min_version=*/3, expected_model_id});
//   EnclaveSession s(model.graph(), platform, {}, &model);
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "common/bulk_aead.h"
#include "common/sealed_format.h"
#include "common/weight_codec.h"
#include "enclave/host_interface.h"
#include "enclave/key_provider.h"
#include "enclave/weight_source.h"

namespace teeinfer {

// What loading weights cost, timed with HostInterface::now_ns (the enclave has no clock).
struct SealedLoadStats {
  uint64_t bytes = 0, chunks = 0;  // bytes decrypted (compressed chunks count their stored size)
  uint64_t copy_in_ns = 0;         // host -> enclave copies of ciphertext
  uint64_t decrypt_ns = 0;         // authenticate + decrypt
  uint64_t decode_ns = 0;          // decompress (pack --compress)
  uint64_t host_calls = 0;         // HostInterface::read_model calls (OCALLs in SGX)
};

// Which model the caller expects. Both are checked against the header before the key is
// unwrapped or any manifest or chunk byte is read. (Here the host-side caller chooses
// them; an attested key-release service will hold this policy later.)
struct SealedLoadOptions {
  SealedLoadOptions(uint64_t min = 0, std::optional<std::array<uint8_t, 16>> id = std::nullopt)
      : min_version(min), expected_model_id(id) {}
  uint64_t min_version;                                      // refuse models older than this (rollback protection)
  std::optional<std::array<uint8_t, 16>> expected_model_id;  // refuse any other model
};

class SealedModel : public WeightSource {
 public:
  // Throws Error: kBadModel (corrupt, tampered, truncated), kBadArgument (wrong key),
  // kBadInput (rollback below min_version, or not the expected model id).
  SealedModel(HostInterface& host, KeyProvider& keys, const SealedLoadOptions& options = {});
  ~SealedModel() override;
  SealedModel(const SealedModel&) = delete;
  SealedModel& operator=(const SealedModel&) = delete;

  // The shape profile in use (profile 0 until another is selected): its graph, and its
  // constants' ValueIds name what read() and read_rows() decrypt.
  const Graph& graph() const { return profile().graph; }
  const ShapeProfile& profile() const { return manifest_.profiles[active_]; }
  const std::vector<ShapeProfile>& profiles() const { return manifest_.profiles; }
  void select_profile(size_t index);
  const SealedHeader& header() const { return header_; }
  // SHA-256 of the plaintext manifest (receipts name it).
  const std::array<uint8_t, 32>& manifest_sha256() const { return manifest_sha256_; }
  const std::vector<SealedTensor>& tensors() const { return manifest_.tensors; }
  const std::vector<BoundInput>& bound_inputs() const { return manifest_.bound_inputs; }
  // Decrypts the whole of sealed tensor `index` (any profile's).
  void read_tensor(size_t index, std::byte* dst, size_t bytes);

  void read(ValueId v, std::byte* dst, size_t bytes) override;
  void read_rows(ValueId v, int64_t first, int64_t count, std::byte* dst) override;
  int64_t row_granularity(ValueId v) const override;
  // Ciphertext comes in through a cache-sized window (see kCopyInBytes in the .cpp).
  size_t scratch_bytes() const override;
  void set_scratch(std::byte* scratch) override;
  const SealedLoadStats& load_stats() const { return stats_; }

 private:
  // Every read from the host goes through here, so stats_.host_calls is exact.
  void read_host(uint64_t offset, void* dst, size_t n, const char* what);
  void unwrap_data_key(KeyProvider& keys, const uint8_t* header_bytes);
  void read_manifest(const uint8_t* header_bytes);
  [[nodiscard]] bool decrypt_chunk(uint32_t plain, const uint8_t* nonce, const ChunkAad& aad, uint64_t offset,
                                   uint8_t* out);
  size_t tensor_index(ValueId v) const;
  void decrypt_chunks(size_t index, uint32_t first, uint32_t count, std::byte* dst, const std::string& name);
  void decrypt_compressed(const SealedTensor& t, uint32_t k, const uint8_t* nonce, const ChunkAad& aad, uint64_t offset,
                          uint8_t* out, const std::string& name);

  HostInterface& host_;
  SealedHeader header_;
  Manifest manifest_;
  std::array<uint8_t, 32> manifest_sha256_{};
  // The data key, prepared once for the bulk cipher (key schedule and GHASH tables; the
  // raw key is wiped as soon as this exists), and the one stream every chunk reuses.
  std::optional<BulkAeadKey> data_key_;
  std::optional<BulkAeadDecryptStream> chunk_stream_;
  size_t active_ = 0;                    // the profile in use
  std::vector<uint64_t> chunk_offsets_;  // file offset of every chunk
  uint64_t max_chunk_bytes_ = 0, max_compressed_bytes_ = 0;
  bool zstd_chunks_ = false;  // any: the decoder then needs zstd's workspace
  size_t chunk_scratch_bytes() const;
  std::byte* scratch_ = nullptr;
  std::unique_ptr<ChunkDecoder> decoder_;  // its workspace lies in scratch_, in the arena
  SealedLoadStats stats_;
};

}  // namespace teeinfer
