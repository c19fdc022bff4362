// Shared by the sealed-loader fuzz target and its seed writer: the fixed test key and an
// in-memory host.
#pragma once

#include <cstring>
#include <string>

#include "common/sealed_format.h"
#include "enclave/host_interface.h"
#include "enclave/key_provider.h"

namespace teeinfer::fuzz {

inline AesKey fuzz_key() {
  AesKey k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(0xA5 ^ i);
  return k;
}

class BytesHost : public HostInterface {
 public:
  BytesHost(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint64_t model_bytes() noexcept override { return n_; }
  bool read_model(uint64_t offset, void* dst, size_t n) noexcept override {
    if (offset > n_ || n > n_ - offset) return false;
    std::memcpy(dst, p_ + offset, n);
    return true;
  }
  uint64_t now_ns() noexcept override { return 0; }
  void log(std::string_view) noexcept override {}

 private:
  const uint8_t* p_;
  size_t n_;
};

class FuzzKey : public KeyProvider {
 public:
  bool key_encryption_key(const std::array<uint8_t, 16>& id, AesKey& out) noexcept override {
    out = fuzz_key();
    return kek_id_of(out) == id;
  }
};

// Input modes, chosen by the first byte.
constexpr uint8_t kModeSealedFile = 0, kModeManifest = 1;

}  // namespace teeinfer::fuzz
