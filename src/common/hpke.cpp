#include "common/hpke.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/proverr.h>
#include <openssl/rand.h>

#include <cassert>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/aes_gcm.h"
#include "common/bulk_aead.h"
#include "common/error.h"

namespace teeinfer::hpke {
namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;  // clears X25519 private keys
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using KdfCtx = std::unique_ptr<EVP_KDF_CTX, Deleter<EVP_KDF_CTX, EVP_KDF_CTX_free>>;  // clears key and salt

using Bytes = std::span<const uint8_t>;

constexpr size_t kHashBytes = 32;  // Nh, and also Nsecret and Ndh of DHKEM(X25519, HKDF-SHA256)
// suite_id of RFC 9180 §4.1 (inside the KEM) and §5.1 (everywhere else).
constexpr uint8_t kKemSuiteId[] = {'K', 'E', 'M', 0x00, 0x20};
constexpr uint8_t kHpkeSuiteId[] = {'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x01, 0x00, 0x02};
constexpr std::string_view kVersionLabel = "HPKE-v1";
constexpr uint8_t kModeBase = 0x00;

[[noreturn]] void fail(const char* what) {
  ERR_clear_error();  // nothing later should find our failure on the thread's queue
  throw Error(ErrorCode::kKernel, std::string("OpenSSL: HPKE: ") + what);
}

[[noreturn]] void misuse(const std::string& what) {
  throw Error(ErrorCode::kBadArgument, "HPKE: " + what);
}

// Fixed-size key material on the stack, wiped however the scope is left.
template <size_t N>
class Secret {
 public:
  Secret() = default;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() { wipe(bytes_, N); }
  uint8_t* data() { return bytes_; }
  Bytes bytes() const { return Bytes(bytes_, N); }

 private:
  uint8_t bytes_[N] = {};
};

// A KDF input assembled from pieces, wiped when it goes: a labeled ikm carries the DH output
// or DeriveKeyPair's ikm. Allocated once at its final size, so no reallocation leaves copies.
class Scratch {
 public:
  explicit Scratch(size_t n) : bytes_(n) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { wipe(bytes_.data(), bytes_.size()); }
  Scratch& add(Bytes b) {
    assert(used_ + b.size() <= bytes_.size());
    if (!b.empty()) std::memcpy(bytes_.data() + used_, b.data(), b.size());
    used_ += b.size();
    return *this;
  }
  Scratch& add(std::string_view s) { return add(Bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size())); }
  Bytes bytes() const { return Bytes(bytes_.data(), used_); }

 private:
  std::vector<uint8_t> bytes_;
  size_t used_ = 0;
};

EVP_KDF* hkdf_kdf() {                                             // (EVP_KDF_CTX_new takes it non-const)
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);  // kept for the process
  if (!kdf) fail("HKDF is not available");
  return kdf;
}

// One HKDF-SHA256 step (RFC 5869): Extract(salt, key) into kHashBytes, or Expand(key, info, L).
void hkdf(int mode, Bytes key, Bytes salt, Bytes info, uint8_t* out, size_t out_len) {
  KdfCtx ctx(EVP_KDF_CTX_new(hkdf_kdf()));
  if (!ctx) fail("cannot allocate an HKDF context");
  // RFC 5869 §2.2: no salt means HashLen zero bytes. Spelt out rather than left to OpenSSL.
  static const uint8_t kZeroSalt[kHashBytes] = {};
  if (salt.empty()) salt = Bytes(kZeroSalt, kHashBytes);
  char digest[] = "SHA256";
  OSSL_PARAM params[6], *p = params;
  *p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
  *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(key.data()), key.size());
  if (mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY)
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()), salt.size());
  else
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(info.data()), info.size());
  *p = OSSL_PARAM_construct_end();
  if (EVP_KDF_derive(ctx.get(), out, out_len, params) != 1) fail("HKDF-SHA256 failed");
}

// RFC 9180 §4: LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm).
void labeled_extract(Bytes suite_id, Bytes salt, std::string_view label, Bytes ikm, uint8_t* prk) {
  Scratch labeled_ikm(kVersionLabel.size() + suite_id.size() + label.size() + ikm.size());
  labeled_ikm.add(kVersionLabel).add(suite_id).add(label).add(ikm);
  hkdf(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, labeled_ikm.bytes(), salt, {}, prk, kHashBytes);
}

// LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L).
void labeled_expand(Bytes suite_id, Bytes prk, std::string_view label, Bytes info, uint8_t* out, size_t L) {
  assert(L <= kMaxExportBytes);
  const uint8_t length[2] = {static_cast<uint8_t>(L >> 8), static_cast<uint8_t>(L)};
  Scratch labeled_info(sizeof length + kVersionLabel.size() + suite_id.size() + label.size() + info.size());
  labeled_info.add(length).add(kVersionLabel).add(suite_id).add(label).add(info);
  hkdf(EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, {}, labeled_info.bytes(), out, L);
}

// A private key imported with EVP, which computes its public half (one X25519 operation).
Pkey private_key(const uint8_t* sk) {
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, sk, kPrivateKeyBytes));
  if (!key) fail("cannot load an X25519 private key");
  return key;
}

// A key pair whose public half the caller knows: imported as both halves, which spares the
// X25519 operation that recomputes it (OpenSSL's key import takes a given public key as is).
Pkey key_pair(const uint8_t* sk, const PublicKey& pk) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "X25519", nullptr));
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, const_cast<uint8_t*>(sk), kPrivateKeyBytes),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<uint8_t*>(pk.data()), pk.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEYPAIR, params) != 1)
    fail("cannot load an X25519 key pair");
  return Pkey(raw);
}

PublicKey public_half(EVP_PKEY* key) {
  PublicKey pk{};
  size_t len = pk.size();
  if (EVP_PKEY_get_raw_public_key(key, pk.data(), &len) != 1 || len != pk.size())
    fail("cannot compute an X25519 public key");
  return pk;
}

// DH(sk, pk) of RFC 9180 §4.1, `self` holding sk. A low-order `pk` gives the all-zero output,
// which RFC 7748 §6.1 and RFC 9180 §7.1.4 say to refuse; `whose` names that key in the error.
void x25519(EVP_PKEY* self, const uint8_t* pk, uint8_t* dh, const char* whose) {
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, pk, kPublicKeyBytes));
  if (!peer) fail("cannot load an X25519 public key");
  PkeyCtx ctx(EVP_PKEY_CTX_new(self, nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1)
    fail("cannot set up X25519");
  auto low_order = [&] {
    return Error(ErrorCode::kBadInput,
                 std::string("HPKE: ") + whose + " is a low-order X25519 point (the shared secret would be all zero)");
  };
  size_t len = kHashBytes;
  if (EVP_PKEY_derive(ctx.get(), dh, &len) != 1) {
    // OpenSSL 3.0 itself refuses the all-zero result, with this reason (and only for it).
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) != ERR_LIB_PROV || ERR_GET_REASON(e) != PROV_R_FAILED_DURING_DERIVATION) fail("X25519 failed");
    ERR_clear_error();
    throw low_order();
  }
  static const uint8_t kZero[kHashBytes] = {};
  if (len != kHashBytes) fail("X25519 gave a result of the wrong size");
  if (CRYPTO_memcmp(dh, kZero, kHashBytes) == 0) throw low_order();  // should OpenSSL stop refusing it
}

// RFC 9180 §4.1: shared_secret = ExtractAndExpand(dh, kem_context), kem_context = enc || pkRm.
void extract_and_expand(Bytes dh, const uint8_t* enc, const uint8_t* pkR, uint8_t* shared_secret) {
  Secret<kHashBytes> eae_prk;
  labeled_extract(kKemSuiteId, {}, "eae_prk", dh, eae_prk.data());
  uint8_t kem_context[kEncBytes + kPublicKeyBytes];
  std::memcpy(kem_context, enc, kEncBytes);
  std::memcpy(kem_context + kEncBytes, pkR, kPublicKeyBytes);
  labeled_expand(kKemSuiteId, eae_prk.bytes(), "shared_secret", kem_context, shared_secret, kHashBytes);
}

}  // namespace

void generate_private_key(uint8_t* sk) {
  if (RAND_priv_bytes(sk, static_cast<int>(kPrivateKeyBytes)) != 1) fail("RAND_priv_bytes failed");
}

PublicKey public_key(const uint8_t* sk) {
  return public_half(private_key(sk).get());
}

void derive_key_pair(const uint8_t* ikm, size_t n, uint8_t* sk, PublicKey& pk) {
  if (n < kMinIkmBytes)
    misuse("DeriveKeyPair needs at least " + std::to_string(kMinIkmBytes) + " bytes of ikm, got " + std::to_string(n));
  // RFC 9180 §7.1.3, for X25519: no rejection sampling, any 32 bytes are a key.
  Secret<kHashBytes> dkp_prk;
  labeled_extract(kKemSuiteId, {}, "dkp_prk", Bytes(ikm, n), dkp_prk.data());
  labeled_expand(kKemSuiteId, dkp_prk.bytes(), "sk", {}, sk, kPrivateKeyBytes);
  pk = public_key(sk);
}

// RFC 9180 §5.1 KeySchedule, base mode (psk and psk_id empty).
Context::Context(Role role, const uint8_t* shared_secret, const uint8_t* info, size_t info_len) : role_(role) {
  try {
    uint8_t key_schedule_context[1 + 2 * kHashBytes];  // mode || psk_id_hash || info_hash
    key_schedule_context[0] = kModeBase;
    labeled_extract(kHpkeSuiteId, {}, "psk_id_hash", {}, key_schedule_context + 1);
    labeled_extract(kHpkeSuiteId, {}, "info_hash", Bytes(info, info_len), key_schedule_context + 1 + kHashBytes);
    Secret<kHashBytes> secret;
    labeled_extract(kHpkeSuiteId, Bytes(shared_secret, kHashBytes), "secret", {}, secret.data());
    labeled_expand(kHpkeSuiteId, secret.bytes(), "key", key_schedule_context, key_.data(), key_.size());
    labeled_expand(kHpkeSuiteId, secret.bytes(), "base_nonce", key_schedule_context, base_nonce_.data(),
                   base_nonce_.size());
    labeled_expand(kHpkeSuiteId, secret.bytes(), "exp", key_schedule_context, exporter_secret_.data(),
                   exporter_secret_.size());
  } catch (...) {
    wipe_keys();  // no destructor runs for a constructor that throws
    throw;
  }
}

Context::Context(Context&& other) noexcept
    : key_(other.key_),
      base_nonce_(other.base_nonce_),
      exporter_secret_(other.exporter_secret_),
      seq_(other.seq_),
      role_(other.role_) {
  other.wipe_keys();
  other.role_ = Role::kMovedFrom;
}

Context& Context::operator=(Context&& other) noexcept {
  if (this != &other) {
    key_ = other.key_;
    base_nonce_ = other.base_nonce_;
    exporter_secret_ = other.exporter_secret_;
    seq_ = other.seq_;
    role_ = other.role_;
    other.wipe_keys();
    other.role_ = Role::kMovedFrom;
  }
  return *this;
}

Context::~Context() {
  wipe_keys();
}

void Context::wipe_keys() {
  wipe(key_.data(), key_.size());
  wipe(base_nonce_.data(), base_nonce_.size());
  wipe(exporter_secret_.data(), exporter_secret_.size());
}

void Context::compute_nonce(uint8_t* nonce) const {
  std::memcpy(nonce, base_nonce_.data(), kNonceBytes);
  for (size_t i = 0; i < sizeof seq_; ++i) nonce[kNonceBytes - 1 - i] ^= static_cast<uint8_t>(seq_ >> (8 * i));
}

void Context::seal(const uint8_t* aad, size_t aad_len, const uint8_t* pt, size_t n, uint8_t* ct) {
  // A recipient context sealing would reuse the sender's (key, nonce) pairs: refused, not asserted.
  if (role_ != Role::kSender) misuse("seal() needs a sender context");
  // RFC 9180 §5.2: the sequence number must never wrap (a nonce would repeat).
  if (seq_ == UINT64_MAX) throw Error(ErrorCode::kBadInput, "HPKE: this context has reached its message limit");
  uint8_t nonce[kNonceBytes];
  compute_nonce(nonce);
  BulkAeadKey(key_).encrypt(nonce, aad, aad_len, pt, n, ct, ct + n);
  ++seq_;
}

bool Context::unseal(const uint8_t* aad, size_t aad_len, const uint8_t* ct, size_t n, uint8_t* pt) {
  if (role_ != Role::kRecipient) misuse("unseal() needs a recipient context");
  if (n < kTagBytes) return false;  // too short to hold the tag: cannot authenticate
  if (seq_ == UINT64_MAX) throw Error(ErrorCode::kBadInput, "HPKE: this context has reached its message limit");
  uint8_t nonce[kNonceBytes];
  compute_nonce(nonce);
  const size_t len = n - kTagBytes;
  if (!BulkAeadKey(key_).decrypt(nonce, aad, aad_len, ct, len, ct + len, pt))
    return false;  // (`pt` zeroed) RFC 9180 §5.2: a failed open leaves seq as it was
  ++seq_;
  return true;
}

void Context::export_secret(const uint8_t* ctx, size_t ctx_len, uint8_t* out, size_t L) const {
  if (role_ == Role::kMovedFrom) misuse("export_secret() on a moved-from context");
  if (L > kMaxExportBytes)
    misuse("cannot export " + std::to_string(L) + " bytes (at most " + std::to_string(kMaxExportBytes) + ")");
  if (ctx_len > kMaxExportContextBytes)
    misuse("exporter context of " + std::to_string(ctx_len) + " bytes (at most " +
           std::to_string(kMaxExportContextBytes) + ")");
  if (L == 0) return;
  labeled_expand(kHpkeSuiteId, exporter_secret_, "sec", Bytes(ctx, ctx_len), out, L);
}

SenderSetup setup_base_sender(const PublicKey& pkR, const uint8_t* info, size_t info_len, const uint8_t* ephemeral_sk) {
  // RFC 9180 §4.1 Encap.
  Secret<kPrivateKeyBytes> skE;
  if (ephemeral_sk)
    std::memcpy(skE.data(), ephemeral_sk, kPrivateKeyBytes);
  else
    generate_private_key(skE.data());
  // Two X25519 operations: enc (computed by the import) and the DH.
  Pkey ephemeral = private_key(skE.data());
  const Enc enc = public_half(ephemeral.get());
  Secret<kHashBytes> dh, shared_secret;
  x25519(ephemeral.get(), pkR.data(), dh.data(), "the recipient's public key");
  extract_and_expand(dh.bytes(), enc.data(), pkR.data(), shared_secret.data());
  return SenderSetup{enc, Context(Context::Role::kSender, shared_secret.data(), info, info_len)};
}

Context setup_base_recipient(const uint8_t* enc, const uint8_t* skR, const uint8_t* info, size_t info_len) {
  return setup_base_recipient(enc, skR, public_key(skR), info, info_len);
}

Context setup_base_recipient(const uint8_t* enc, const uint8_t* skR, const PublicKey& pkR, const uint8_t* info,
                             size_t info_len) {
  // RFC 9180 §4.1 Decap: one X25519 operation (the DH).
  Secret<kHashBytes> dh, shared_secret;
  x25519(key_pair(skR, pkR).get(), enc, dh.data(), "enc (the sender's ephemeral public key)");
  extract_and_expand(dh.bytes(), enc, pkR.data(), shared_secret.data());
  return Context(Context::Role::kRecipient, shared_secret.data(), info, info_len);
}

}  // namespace teeinfer::hpke
