// AES-256-GCM through OpenSSL 3's EVP interface, for small one-off messages: wrapping the
// data key under the key-encryption key (packer, host; sealed loader, enclave). Bulk data
// goes through common/bulk_aead.h. Also SHA-256 and wiping. Pure computation: no I/O.
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

// SHA-256 of `n` bytes (used for key ids).
std::array<uint8_t, 32> sha256(const uint8_t* data, size_t n);

// Overwrites key material so it does not linger in freed memory.
void wipe(void* p, size_t n);

}  // namespace teeinfer
