// ECDSA over NIST P-256 with SHA-256, keys and signatures as raw bytes: the signature
// scheme of SGX DCAP quotes (attestation key, QE report), used here for the simulated
// quote and for the enclave's signed receipts. On OpenSSL 3.0's EVP; pure computation.
//
//   uint8_t sk[32]; ecdsa_p256::generate_private_key(sk);     // caller owns (and wipes) sk
//   auto pk = ecdsa_p256::public_key(sk);                      // x || y, 64 bytes
//   auto sig = ecdsa_p256::sign(sk, msg, n);                   // r || s, 64 bytes
//   bool ok = ecdsa_p256::verify(pk, msg, n, sig);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace teeinfer::ecdsa_p256 {

constexpr size_t kPrivateKeyBytes = 32, kPublicKeyBytes = 64, kSignatureBytes = 64;
using PublicKey = std::array<uint8_t, kPublicKeyBytes>;  // affine x || y, big-endian
using Signature = std::array<uint8_t, kSignatureBytes>;  // r || s, big-endian

// A uniformly random scalar in [1, n-1] from OpenSSL's private random generator.
void generate_private_key(uint8_t* sk);
// A scalar derived from `seed` (SHA-256 counter mode, reduced into [1, n-1]): only for
// keys that are public knowledge by design (the simulated attestation root).
void derive_private_key(const uint8_t* seed, size_t n, uint8_t* sk);
PublicKey public_key(const uint8_t* sk);
// Throws Error(kKernel) only if OpenSSL fails.
Signature sign(const uint8_t* sk, const uint8_t* message, size_t n);
// The same with the key pair's public half already known (saves computing it: ~40 us).
Signature sign(const uint8_t* sk, const PublicKey& pk, const uint8_t* message, size_t n);
// A key pair imported once, for signing when the message is known (the import costs about
// as much as the signature). The private scalar is in OpenSSL's key object until this is
// destroyed (OpenSSL clears it then). One thread at a time.
class SigningKey {
 public:
  SigningKey(const uint8_t* sk, const PublicKey& pk);  // throws Error(kKernel) if OpenSSL fails
  ~SigningKey();
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  Signature sign(const uint8_t* message, size_t n) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
// False for a wrong signature, a malformed key (not on the curve) or r/s out of range.
// The last key a thread verified with stays imported (a client checks every receipt with one
// key): a public key, so keeping it is harmless.
[[nodiscard]] bool verify(const PublicKey& pk, const uint8_t* message, size_t n, const Signature& sig);

}  // namespace teeinfer::ecdsa_p256
