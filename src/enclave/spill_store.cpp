#include "enclave/spill_store.h"

#include <cstring>
#include <string>

#include "common/error.h"

namespace teeinfer {

SpillStore::SpillStore(TeePlatform& platform, uint64_t blocks, size_t host_bytes)
    : key_(kFreshRandomKey), blocks_(blocks), host_size_(host_bytes) {
  host_ = platform.allocate_untrusted(host_size_);
}

SpillStore::~SpillStore() = default;  // the key wipes itself

std::array<uint8_t, kNonceBytes> SpillStore::nonce(uint64_t block) const {
  std::array<uint8_t, kNonceBytes> n{};
  for (int i = 0; i < 8; ++i) n[i] = static_cast<uint8_t>(run_ >> (8 * i));
  for (int i = 0; i < 4; ++i) n[8 + i] = static_cast<uint8_t>(block >> (8 * i));
  return n;
}

std::byte* SpillStore::slot(uint64_t block, size_t at, size_t n) {
  if (block >= blocks_ || block > UINT32_MAX || at > host_size_ || n + kTagBytes > host_size_ - at)
    throw Error(ErrorCode::kKernel, "spill store: block " + std::to_string(block) + " out of range");
  return host_.get() + at;
}

void SpillStore::seal(uint64_t block, size_t at, const std::byte* plain, size_t n) {
  auto* out = reinterpret_cast<uint8_t*>(slot(block, at, n));
  ++blocks_moved_;
  auto iv = nonce(block);
  // The nonce is also the additional data: a block is bound to its run and position.
  key_.encrypt(iv.data(), iv.data(), iv.size(), reinterpret_cast<const uint8_t*>(plain), n, out, out + n);
}

void SpillStore::unseal(uint64_t block, size_t at, std::byte* plain, size_t n) {
  const auto* in = reinterpret_cast<const uint8_t*>(slot(block, at, n));
  ++blocks_moved_;
  auto iv = nonce(block);
  if (!key_.decrypt(iv.data(), iv.data(), iv.size(), in, n, in + n, reinterpret_cast<uint8_t*>(plain))) {
    // decrypt() zeroed `plain`: unauthenticated plaintext is never used
    throw Error(ErrorCode::kTampered, "spilled activation block " + std::to_string(block) +
                                          " failed authentication (host memory was altered, swapped or replayed)");
  }
}

}  // namespace teeinfer
