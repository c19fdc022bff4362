// Shared by the sealed-loader fuzz target and its seed writer: the fixed test key.
#pragma once

#include <cstring>
#include <string>

#include "common/sealed_format.h"
#include "enclave/host_interface.h"
#include "enclave/key_provider.h"
#include "host/memory_host.h"

namespace teeinfer::fuzz {

inline AesKey fuzz_key() {
  AesKey k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(0xA5 ^ i);
  return k;
}

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
