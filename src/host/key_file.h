// Key-encryption keys in files (development key management).
//
//   write_key_file("k.bin", generate_key());      // 32 random bytes, mode 0600
//   KeyFileProvider keys("k.bin");                // a KeyProvider for SealedModel
#pragma once

#include <string>

#include "enclave/key_provider.h"

namespace teeinfer {

AesKey generate_key();
// Refuses to overwrite an existing file unless `overwrite`. Throws Error(kIo).
void write_key_file(const std::string& path, const AesKey& key, bool overwrite);
// The file must hold exactly 32 bytes. Throws Error(kIo / kBadArgument).
AesKey read_key_file(const std::string& path);

class KeyFileProvider : public KeyProvider {
 public:
  explicit KeyFileProvider(const std::string& path) : key_(read_key_file(path)) {}
  ~KeyFileProvider() override;
  bool key_encryption_key(const std::array<uint8_t, 16>& kek_id, AesKey& out) noexcept override;
  const AesKey& key() const { return key_; }

 private:
  AesKey key_;
};

}  // namespace teeinfer
