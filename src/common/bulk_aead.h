// Bulk AES-256-GCM: the cipher for everything large (weight chunks and the manifest,
// activation spill blocks, emulated-EPC pages). Standard GCM with 12-byte nonces and
// 16-byte tags, so what one backend seals the other opens and the sealed format does not
// depend on the backend.
//
// Backends (CMake option TEEINFER_BULK_AEAD): `ipsecmb` (default) is Intel's multi-buffer
// crypto library, whose own dispatch picks its VAES/AVX-512 code where the CPU has it
// (about 2.5x OpenSSL 3.0 per core); `openssl` is OpenSSL's EVP. Key wrap, KDF, random
// numbers and hashing stay on OpenSSL (common/aes_gcm.h).
//
// A BulkAeadKey prepares the key once (AES key schedule and GHASH tables, wiped when it
// is destroyed); messages then cost no allocation and no key setup. One thread at a time
// per key and per stream (the OpenSSL backend keeps its cipher state in them).
//
//   BulkAeadKey key(aes_key);
//   key.encrypt(nonce, aad, aad_len, plain, n, cipher, tag);
//   if (!key.decrypt(nonce, aad, aad_len, cipher, n, tag, plain)) reject();  // plain zeroed
//   BulkAeadDecryptStream s(key);   // reusable: begin() starts the next message
//   s.begin(nonce, aad, aad_len);  s.update(piece, len, out);  ...;  if (!s.finish(tag)) reject();
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/aes_gcm.h"

namespace teeinfer {

// "ipsec-mb" or "openssl": the library this build seals bulk data with.
const char* bulk_aead_backend();
// The backend with its version and the code path it picked on this CPU, for reports
// (e.g. "ipsec-mb 1.3.0 avx512 vaes").
std::string bulk_aead_description();

// Tag for a key drawn at random (OpenSSL's CSPRNG) that never exists outside the object.
struct FreshRandomKey {};
inline constexpr FreshRandomKey kFreshRandomKey{};

class BulkAeadKey {
 public:
  // Throws Error(kKernel) only if the library cannot be set up (or, for a fresh key,
  // there are no random bytes).
  explicit BulkAeadKey(const AesKey& key);
  explicit BulkAeadKey(FreshRandomKey);
  ~BulkAeadKey();
  BulkAeadKey(const BulkAeadKey&) = delete;
  BulkAeadKey& operator=(const BulkAeadKey&) = delete;

  // Allocates nothing, never throws (a backend failure aborts: it cannot happen with
  // valid arguments, and a silently wrong tag must not be written).
  void encrypt(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, const uint8_t* plain, size_t n,
               uint8_t* cipher, uint8_t* tag) noexcept;
  // False when authentication fails; then the n bytes of `plain` are zeroed. In-place
  // (plain == cipher) is allowed. Allocates nothing; async-signal-safe in practice.
  [[nodiscard]] bool decrypt(const uint8_t* nonce, const uint8_t* aad, size_t aad_len, const uint8_t* cipher, size_t n,
                             const uint8_t* tag, uint8_t* plain) noexcept;

  // The backend's prepared key: ipsec-mb's gcm_key_data (key schedule + GHASH tables,
  // 64-byte aligned) or OpenSSL's keyed cipher contexts.
  static constexpr size_t kPreparedBytes = 17 * 64;

 private:
  friend class BulkAeadDecryptStream;
  void prepare(const AesKey& key);  // the backend's setup, into prepared_
  alignas(64) unsigned char prepared_[kPreparedBytes];
};

// One message decrypted piece by piece (pieces of any length, empty ones too), so
// ciphertext can come in through a small cache-resident window. The plaintext written
// before finish() returns true is unauthenticated: callers must discard it on failure.
class BulkAeadDecryptStream {
 public:
  // Bound to `key` for its life (the key must outlive it).
  explicit BulkAeadDecryptStream(BulkAeadKey& key);
  ~BulkAeadDecryptStream();
  BulkAeadDecryptStream(const BulkAeadDecryptStream&) = delete;
  BulkAeadDecryptStream& operator=(const BulkAeadDecryptStream&) = delete;

  void begin(const uint8_t* nonce, const uint8_t* aad, size_t aad_len) noexcept;
  void update(const uint8_t* cipher, size_t n, uint8_t* plain) noexcept;
  [[nodiscard]] bool finish(const uint8_t* tag) noexcept;

  static constexpr size_t kStateBytes = 128;

 private:
  BulkAeadKey& key_;
  alignas(16) unsigned char state_[kStateBytes];
};

}  // namespace teeinfer
