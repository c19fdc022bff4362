// The attested identity of one trusted core instance: key pairs generated inside, kept in
// a secure region of the TEE platform, and the report body that binds their public halves
// to a verifier's nonce. Also what only the private keys can do: open key grants from a
// key broker (the model key-encryption keys stay in the region), open end-to-end
// encrypted requests, sign receipts.
//
//   EnclaveIdentity id(platform, config);
//   auto body = id.report(nonce);          // REPORT_DATA = SHA-256(public keys) || nonce
//   auto grant = id.accept_key_grant(...); // the KEK is now inside, bound to its model
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>

#include "common/ecdsa_p256.h"
#include "common/hpke.h"
#include "common/sgx_quote.h"
#include "enclave/tee_platform.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {

// ISV_SVN of the trusted core: raised with every security fix, so a key broker's policy
// can refuse cores built before it (min_isv_svn).
constexpr uint16_t kTrustedCoreSecurityVersion = 1;
constexpr uint16_t kTrustedCoreProductId = 1;  // ISV_PROD_ID

// HPKE `info` of key grants, and of end-to-end encrypted requests.
constexpr std::string_view kKeyGrantInfo = "teeinfer key release v1";
constexpr std::string_view kRequestInfo = "teeinfer request v1";

struct EnclaveConfig {
  std::array<uint8_t, 32> mr_enclave{}, mr_signer{};
  bool debug = false;
};

struct KeyGrant {
  ModelId model_id{};
  uint64_t min_version = 0;  // the lowest model version the broker's policy allows
  KeyId kek_id{};
};

// The associated data a key grant is sealed with: what the enclave asked for.
std::vector<uint8_t> key_grant_aad(const ModelId& model_id, uint64_t model_version);
// The plaintext of a key grant: KEK || model id || min version (little-endian).
constexpr size_t kKeyGrantBytes = 32 + 16 + 8;

class EnclaveIdentity {
 public:
  EnclaveIdentity(TeePlatform& platform, const EnclaveConfig& config);
  ~EnclaveIdentity();
  EnclaveIdentity(const EnclaveIdentity&) = delete;
  EnclaveIdentity& operator=(const EnclaveIdentity&) = delete;

  const hpke::PublicKey& hpke_public_key() const { return hpke_pk_; }
  const ecdsa_p256::PublicKey& receipt_public_key() const { return receipt_pk_; }
  const EnclaveConfig& config() const { return config_; }

  // The report body a quoting enclave turns into evidence.
  sgx_quote::ReportBody report(const std::array<uint8_t, 32>& nonce) const;
  // REPORT_DATA: SHA-256("teeinfer keys v1" || HPKE public key || receipt public key) ||
  // the verifier's nonce.
  static std::array<uint8_t, 64> report_data(const hpke::PublicKey& hpke_pk, const ecdsa_p256::PublicKey& receipt_pk,
                                             const std::array<uint8_t, 32>& nonce);

  // Opens a grant sealed to this identity's HPKE key for (model_id, model_version): the
  // KEK stays in the secure region. Throws kTampered if it does not open, kBadInput if it
  // grants another model, kBudgetExceeded when the region holds the most grants.
  KeyGrant accept_key_grant(const uint8_t* enc, const uint8_t* sealed, size_t n, const ModelId& model_id,
                            uint64_t model_version);
  std::optional<KeyGrant> grant(const ModelId& model_id) const;
  bool key_encryption_key(const KeyId& kek_id, Key& out) const noexcept;

  // The recipient side of an HPKE context (end-to-end encrypted requests).
  hpke::Context open_context(const uint8_t* enc, const uint8_t* info, size_t info_len) const;
  ecdsa_p256::Signature sign(const uint8_t* message, size_t n) const;
  // The receipt key imported for signing (ahead of the message: the import is half a
  // signature's cost); it holds the private scalar until it is destroyed.
  ecdsa_p256::SigningKey receipt_signing_key() const;

  static constexpr size_t kMaxGrants = 64;

 private:
  uint8_t* hpke_sk() const;
  uint8_t* receipt_sk() const;
  struct StoredGrant;
  StoredGrant* grants() const;

  EnclaveConfig config_;
  std::unique_ptr<SecureRegion> region_;
  size_t grant_count_ = 0;
  hpke::PublicKey hpke_pk_{};
  ecdsa_p256::PublicKey receipt_pk_{};
};

}  // namespace teeinfer
