#include "enclave/attest/enclave_identity.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/aes_gcm.h"
#include "common/error.h"

namespace teeinfer {

// One released key in the secure region.
struct EnclaveIdentity::StoredGrant {
  Key kek;
  KeyGrant grant;
};

namespace {

constexpr size_t kKeysBytes = hpke::kPrivateKeyBytes + ecdsa_p256::kPrivateKeyBytes;

void put_u64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

}  // namespace

std::vector<uint8_t> key_grant_aad(const ModelId& model_id, uint64_t model_version) {
  static constexpr std::string_view kLabel = "teeinfer key grant v1";
  std::vector<uint8_t> aad;
  aad.reserve(kLabel.size() + model_id.size() + 8);
  aad.insert(aad.end(), kLabel.begin(), kLabel.end());
  aad.insert(aad.end(), model_id.begin(), model_id.end());
  put_u64(aad, model_version);
  return aad;
}

EnclaveIdentity::EnclaveIdentity(TeePlatform& platform, const EnclaveConfig& config) : config_(config) {
  // (16 KiB: the emulated EPC's smallest region; the keys and grants take under 5 KiB)
  region_ = platform.allocate_region(std::max<size_t>(kKeysBytes + kMaxGrants * sizeof(StoredGrant), 16 * 1024));
  hpke::generate_private_key(hpke_sk());
  hpke_pk_ = hpke::public_key(hpke_sk());
  ecdsa_p256::generate_private_key(receipt_sk());
  receipt_pk_ = ecdsa_p256::public_key(receipt_sk());
}

EnclaveIdentity::~EnclaveIdentity() {
  wipe(region_->data(), region_->size());
}

uint8_t* EnclaveIdentity::hpke_sk() const {
  return reinterpret_cast<uint8_t*>(region_->data());
}
uint8_t* EnclaveIdentity::receipt_sk() const {
  return hpke_sk() + hpke::kPrivateKeyBytes;
}
EnclaveIdentity::StoredGrant* EnclaveIdentity::grants() const {
  return reinterpret_cast<StoredGrant*>(region_->data() + kKeysBytes);
}

std::array<uint8_t, 64> EnclaveIdentity::report_data(const hpke::PublicKey& hpke_pk,
                                                     const ecdsa_p256::PublicKey& receipt_pk,
                                                     const std::array<uint8_t, 32>& nonce) {
  static constexpr std::string_view kLabel = "teeinfer keys v1";
  std::vector<uint8_t> keys;
  keys.reserve(kLabel.size() + hpke_pk.size() + receipt_pk.size());
  keys.insert(keys.end(), kLabel.begin(), kLabel.end());
  keys.insert(keys.end(), hpke_pk.begin(), hpke_pk.end());
  keys.insert(keys.end(), receipt_pk.begin(), receipt_pk.end());
  auto digest = sha256(keys.data(), keys.size());
  std::array<uint8_t, 64> out{};
  std::memcpy(out.data(), digest.data(), 32);
  std::memcpy(out.data() + 32, nonce.data(), 32);
  return out;
}

sgx_quote::ReportBody EnclaveIdentity::report(const std::array<uint8_t, 32>& nonce) const {
  sgx_quote::ReportBody body;
  body.attribute_flags = 0x04 | (config_.debug ? sgx_quote::kAttributeDebug : 0);  // MODE64BIT (| DEBUG)
  body.attribute_xfrm = 0x03;                                                      // x87 | SSE
  body.mr_enclave = config_.mr_enclave;
  body.mr_signer = config_.mr_signer;
  body.isv_prod_id = kTrustedCoreProductId;
  body.isv_svn = kTrustedCoreSecurityVersion;
  body.report_data = report_data(hpke_pk_, receipt_pk_, nonce);
  return body;
}

KeyGrant EnclaveIdentity::accept_key_grant(const uint8_t* enc, const uint8_t* sealed, size_t n, const ModelId& model_id,
                                           uint64_t model_version) {
  if (n != kKeyGrantBytes + hpke::kTagBytes)
    throw Error(ErrorCode::kBadInput, "key grant: " + std::to_string(n) + " sealed bytes, expected " +
                                          std::to_string(kKeyGrantBytes + hpke::kTagBytes));
  if (grant_count_ == kMaxGrants)
    throw Error(ErrorCode::kBudgetExceeded,
                "key grant: this enclave already holds " + std::to_string(kMaxGrants) + " model keys");
  hpke::Context ctx = hpke::setup_base_recipient(
      enc, hpke_sk(), hpke_pk_, reinterpret_cast<const uint8_t*>(kKeyGrantInfo.data()), kKeyGrantInfo.size());
  auto aad = key_grant_aad(model_id, model_version);
  StoredGrant& slot = grants()[grant_count_];
  // The plaintext lands in the region directly: the KEK never touches ordinary memory.
  uint8_t* plain = reinterpret_cast<uint8_t*>(&slot);
  static_assert(sizeof(StoredGrant) >= kKeyGrantBytes);
  if (!ctx.unseal(aad.data(), aad.size(), sealed, n, plain)) {
    wipe(plain, kKeyGrantBytes);
    throw Error(ErrorCode::kTampered, "key grant for model " + to_hex(model_id) +
                                          " does not open with this enclave's key (altered, or sealed to another)");
  }
  ModelId granted{};
  std::memcpy(granted.data(), plain + 32, granted.size());
  uint64_t min_version = get_u64(plain + 48);
  if (granted != model_id) {
    wipe(plain, kKeyGrantBytes);
    throw Error(ErrorCode::kBadInput, "key grant names model " + to_hex(granted) + ", not " + to_hex(model_id));
  }
  KeyGrant g;
  g.model_id = granted;
  g.min_version = min_version;
  auto digest = sha256(plain, 32);
  std::memcpy(g.kek_id.data(), digest.data(), g.kek_id.size());
  // (the KEK's first 32 bytes stay in place; the grant fields after it are rewritten)
  slot.grant = g;
  ++grant_count_;
  return g;
}

std::optional<KeyGrant> EnclaveIdentity::grant(const ModelId& model_id) const {
  for (size_t i = grant_count_; i-- > 0;)
    if (grants()[i].grant.model_id == model_id) return grants()[i].grant;
  return std::nullopt;
}

bool EnclaveIdentity::key_encryption_key(const KeyId& kek_id, Key& out) const noexcept {
  for (size_t i = 0; i < grant_count_; ++i)
    if (grants()[i].grant.kek_id == kek_id) {
      out = grants()[i].kek;
      return true;
    }
  return false;
}

hpke::Context EnclaveIdentity::open_context(const uint8_t* enc, const uint8_t* info, size_t info_len) const {
  return hpke::setup_base_recipient(enc, hpke_sk(), hpke_pk_, info, info_len);
}

ecdsa_p256::Signature EnclaveIdentity::sign(const uint8_t* message, size_t n) const {
  return ecdsa_p256::sign(receipt_sk(), receipt_pk_, message, n);
}

ecdsa_p256::SigningKey EnclaveIdentity::receipt_signing_key() const {
  return ecdsa_p256::SigningKey(receipt_sk(), receipt_pk_);
}

}  // namespace teeinfer
