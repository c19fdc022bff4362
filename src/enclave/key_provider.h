// KeyProvider: hands the enclave the key-encryption key (KEK) that unwraps a sealed
// model's data key. Development: a key file read by the host (host/key_file.h). Later:
// attested key release, where the KEK never exists outside the TEE.
#pragma once

#include <array>
#include <cstdint>

#include "common/aes_gcm.h"

namespace teeinfer {

class KeyProvider {
 public:
  virtual ~KeyProvider() = default;
  // The KEK whose id (first 16 bytes of its SHA-256) is `kek_id`; false if this provider
  // does not hold it. Must not throw.
  virtual bool key_encryption_key(const std::array<uint8_t, 16>& kek_id, AesKey& out) noexcept = 0;
};

}  // namespace teeinfer
