// SpillStore: activations that do not fit in secure memory, kept sealed in untrusted
// host memory (the planner's "encrypted activation spill").
//
// A spilled activation is written and read in blocks of one image row (channels-last, a
// row is contiguous). Each block is sealed with AES-256-GCM under a key drawn inside
// the enclave for this session only; the 96-bit nonce is (run counter, block index), so
// every seal uses a fresh nonce and a block authenticates only for the run and the
// position it was written for: a block altered, swapped with another, or replayed from
// an earlier run fails, and the run stops with Error(kTampered).
//
// Each block is stored where the plan says (its ciphertext, then its tag), so blocks of
// different sizes pack without gaps: every spilled activation's rows at their own size.
//
//   SpillStore s(platform, blocks, host_bytes);
//   s.begin_run();  s.seal(block, at, row_in_arena, n);  s.unseal(block, at, row_in_arena, n);
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/bulk_aead.h"
#include "enclave/tee_platform.h"

namespace teeinfer {

class SpillStore {
 public:
  // `blocks` blocks, in `host_bytes` of memory the platform hands out outside the secure
  // region.
  SpillStore(TeePlatform& platform, uint64_t blocks, size_t host_bytes);
  ~SpillStore();
  SpillStore(const SpillStore&) = delete;
  SpillStore& operator=(const SpillStore&) = delete;

  // Starts a new inference: blocks written before it no longer authenticate.
  void begin_run() { ++run_; }
  // `n` bytes of `plain` (one block) out to block `block`, stored at byte `at` (n bytes of
  // ciphertext, then the tag).
  void seal(uint64_t block, size_t at, const std::byte* plain, size_t n);
  // Block `block`, stored at `at`, back into `plain`; throws Error(kTampered) if it fails
  // authentication.
  void unseal(uint64_t block, size_t at, std::byte* plain, size_t n);

  // Blocks sealed out plus blocks unsealed back since construction (the modelled SGX
  // time counts each as one host call).
  uint64_t blocks_moved() const { return blocks_moved_; }

  // The untrusted bytes (ciphertext and tags), for tests that play the attacker.
  std::byte* host_bytes() { return host_.get(); }
  size_t host_size() const { return host_size_; }

 private:
  std::array<uint8_t, kNonceBytes> nonce(uint64_t block) const;
  std::byte* slot(uint64_t block, size_t at, size_t n);

  BulkAeadKey key_;  // drawn at random for this store, prepared once, never leaves it
  uint64_t run_ = 0;
  uint64_t blocks_moved_ = 0;
  uint64_t blocks_;
  size_t host_size_;
  std::unique_ptr<std::byte[]> host_;
};

}  // namespace teeinfer
