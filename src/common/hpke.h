// HPKE (RFC 9180) for one suite, base mode only: DHKEM(X25519, HKDF-SHA256) = 0x0020,
// HKDF-SHA256 = 0x0001, AES-256-GCM = 0x0002. Pure computation: no I/O.
//
// Why our own: Debian 12's OpenSSL 3.0 has no HPKE API (OSSL_HPKE_* arrived in 3.2), so this
// is a small one on EVP (X25519, EVP_KDF "HKDF") and the bulk AEAD (common/bulk_aead.h: messages are
// whole requests and responses). tests/test_hpke.cpp checks
// it against the RFC's test vectors and against an independent implementation (npm @hpke).
//
//   auto [enc, ctx] = hpke::setup_base_sender(pkR, info, info_len);       // client
//   std::vector<uint8_t> ct = ctx.seal(aad, aad_len, pt, n);              // n + 16 bytes
//   hpke::Context r = hpke::setup_base_recipient(enc.data(), skR, info, info_len);  // core
//   if (!r.unseal(aad, aad_len, ct.data(), ct.size(), pt)) reject();
//
// Errors: Error(kBadInput) for a peer's bad key (a low-order X25519 point) or a context past its
// message limit, Error(kBadArgument) for misuse (seal on a recipient context, L too large...),
// Error(kKernel) only if OpenSSL itself fails. unseal() returns false when authentication fails.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace teeinfer::hpke {

constexpr size_t kPublicKeyBytes = 32, kPrivateKeyBytes = 32, kEncBytes = 32;  // Npk, Nsk, Nenc
constexpr size_t kKeyBytes = 32, kNonceBytes = 12, kTagBytes = 16;             // Nk, Nn, Nt
constexpr size_t kMaxExportBytes = 255 * 32;                                   // 255 * Nh (RFC 9180 §5.3)
// OpenSSL 3.0's HKDF caps its info input (2 KiB in early 3.0 releases, 32 KiB in later ones):
// a longer exporter_context is refused here rather than failing inside OpenSSL. The RFC
// recommends supporting 64.
constexpr size_t kMaxExportContextBytes = 1024;
// DeriveKeyPair's ikm must carry a whole key's worth of bytes (RFC 9180 §7.1.3 says SHOULD).
constexpr size_t kMinIkmBytes = kPrivateKeyBytes;

using PublicKey = std::array<uint8_t, kPublicKeyBytes>;
using Enc = std::array<uint8_t, kEncBytes>;

// Private keys are 32 raw bytes in storage the caller owns (the trusted core keeps them in its
// secure arena) and wipes.
void generate_private_key(uint8_t* sk);  // RAND_priv_bytes; X25519 clamps when it uses the key
PublicKey public_key(const uint8_t* sk);
// RFC 9180 §7.1.3 DeriveKeyPair for X25519: a key pair from n >= kMinIkmBytes bytes of ikm.
void derive_key_pair(const uint8_t* ikm, size_t n, uint8_t* sk, PublicKey& pk);

class Context;
struct SenderSetup;  // {enc, context}, below

// RFC 9180 §5.1.1 SetupBaseS: encapsulates to `pkR` under a fresh ephemeral key.
// `ephemeral_sk` is for tests only (the RFC's vectors fix skEm); reusing one breaks HPKE.
SenderSetup setup_base_sender(const PublicKey& pkR, const uint8_t* info, size_t info_len,
                              const uint8_t* ephemeral_sk = nullptr);
// RFC 9180 §5.1.1 SetupBaseR: `enc` is kEncBytes bytes from the sender, `skR` our private key.
Context setup_base_recipient(const uint8_t* enc, const uint8_t* skR, const uint8_t* info, size_t info_len);
// The same with skR's public key, which the caller knows: one X25519 operation instead of
// two. A `pkR` that is not skR's gives another context, whose unseal() fails.
Context setup_base_recipient(const uint8_t* enc, const uint8_t* skR, const PublicKey& pkR, const uint8_t* info,
                             size_t info_len);

// One HPKE context, sender or recipient (RFC 9180 §5.2). Not thread-safe: its sequence number
// advances with every message. Wipes its keys when destroyed or moved from.
class Context {
 public:
  Context(Context&& other) noexcept;
  Context& operator=(Context&& other) noexcept;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context();

  // Sender only. Writes n + kTagBytes bytes (ciphertext || tag) to `ct`; in place (ct == pt)
  // is fine when that buffer has room for the tag.
  void seal(const uint8_t* aad, size_t aad_len, const uint8_t* pt, size_t n, uint8_t* ct);
  std::vector<uint8_t> seal(const uint8_t* aad, size_t aad_len, const uint8_t* pt, size_t n) {
    std::vector<uint8_t> ct(n + kTagBytes);
    seal(aad, aad_len, pt, n, ct.data());
    return ct;
  }
  // Recipient only. `n` includes the tag; writes n - kTagBytes bytes to `pt` (which may be
  // `ct`). False if authentication fails (then `pt` is zeroed and the sequence number stays,
  // so the next message can still be opened).
  [[nodiscard]] bool unseal(const uint8_t* aad, size_t aad_len, const uint8_t* ct, size_t n, uint8_t* pt);
  // RFC 9180 §5.3 Export: L <= kMaxExportBytes bytes bound to this context and `ctx`.
  void export_secret(const uint8_t* ctx, size_t ctx_len, uint8_t* out, size_t L) const;

  uint64_t sequence() const { return seq_; }  // messages sealed / opened so far

 private:
  enum class Role : uint8_t { kSender, kRecipient, kMovedFrom };
  Context(Role role, const uint8_t* shared_secret, const uint8_t* info, size_t info_len);  // KeySchedule
  void compute_nonce(uint8_t* nonce) const;  // base_nonce XOR I2OSP(seq, Nn)
  void wipe_keys();
  friend SenderSetup setup_base_sender(const PublicKey&, const uint8_t*, size_t, const uint8_t*);
  friend Context setup_base_recipient(const uint8_t*, const uint8_t*, const PublicKey&, const uint8_t*, size_t);
  friend struct ContextTestPeer;  // tests/test_hpke.cpp: the key schedule against the RFC vectors

  std::array<uint8_t, kKeyBytes> key_{};
  std::array<uint8_t, kNonceBytes> base_nonce_{};
  std::array<uint8_t, 32> exporter_secret_{};
  uint64_t seq_ = 0;  // the RFC allows a counter narrower than Nn; we stop at 2^64 - 1 messages
  Role role_;
};

struct SenderSetup {
  Enc enc;  // send to the recipient along with the ciphertexts
  Context context;
};

}  // namespace teeinfer::hpke
