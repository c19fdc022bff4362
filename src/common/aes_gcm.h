// AES-256-GCM through OpenSSL 3's EVP interface, shared by the packer (encrypt, host) and
// the sealed loader (decrypt, enclave). Pure computation: no I/O.
//
//   aes_gcm_encrypt(key, nonce, aad, aad_len, plain, n, cipher, tag);
//   if (!aes_gcm_decrypt(key, nonce, aad, aad_len, cipher, n, tag, plain)) reject();
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace teeinfer {

using AesKey = std::array<uint8_t, 32>;
constexpr size_t kNonceBytes = 12, kTagBytes = 16;

// Throws Error(kKernel) only if OpenSSL itself fails.
void aes_gcm_encrypt(const AesKey& key, const uint8_t* nonce, const uint8_t* aad, size_t aad_len, const uint8_t* plain,
                     size_t n, uint8_t* cipher, uint8_t* tag);
// False when authentication fails (then `plain` must be treated as garbage). In-place
// (plain == cipher) is allowed.
[[nodiscard]] bool aes_gcm_decrypt(const AesKey& key, const uint8_t* nonce, const uint8_t* aad, size_t aad_len,
                                   const uint8_t* cipher, size_t n, const uint8_t* tag, uint8_t* plain);

// One message decrypted piece by piece, so ciphertext can be copied in through a small
// cache-resident buffer. The plaintext written before finish() returns true is
// unauthenticated: callers must discard it on failure.
class GcmDecryptStream {
 public:
  GcmDecryptStream(const AesKey& key, const uint8_t* nonce, const uint8_t* aad, size_t aad_len);
  ~GcmDecryptStream();
  GcmDecryptStream(const GcmDecryptStream&) = delete;
  GcmDecryptStream& operator=(const GcmDecryptStream&) = delete;
  void update(const uint8_t* cipher, size_t n, uint8_t* plain);
  [[nodiscard]] bool finish(const uint8_t* tag);

 private:
  void* ctx_;  // EVP_CIPHER_CTX
  bool ok_;
};

// SHA-256 of `n` bytes (used for key ids).
std::array<uint8_t, 32> sha256(const uint8_t* data, size_t n);

// Overwrites key material so it does not linger in freed memory.
void wipe(void* p, size_t n);

}  // namespace teeinfer
