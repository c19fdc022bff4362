// The relying party's side of attestation (include/teeinfer/teeinfer.h): the trusted
// core's measurement, evidence verification, and key grants as a key broker seals them.
#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

#include "common/aes_gcm.h"
#include "common/ecdsa_p256.h"
#include "common/hpke.h"
#include "common/sgx_quote.h"
#include "common/simulated_root.h"
#include "enclave/attest/enclave_identity.h"
#include "generated/trusted_code_hash.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {
namespace {

Digest simulated_signer() {
  uint8_t sk[ecdsa_p256::kPrivateKeyBytes];
  ecdsa_p256::derive_private_key(reinterpret_cast<const uint8_t*>(kSimulatedSignerSeed.data()),
                                 kSimulatedSignerSeed.size(), sk);
  auto pk = ecdsa_p256::public_key(sk);  // (a public-knowledge key: nothing to wipe)
  return sha256(pk.data(), pk.size());   // as MRSIGNER is SHA-256 of the signer's public key
}

Measurement make_measurement() {
  Measurement m;
  auto code_hash = bytes_from_hex(kTrustedCodeHash, 32, "trusted code hash");
  std::copy(code_hash.begin(), code_hash.end(), m.code_hash.begin());
  m.signer = simulated_signer();
  m.product_id = kTrustedCoreProductId;
  m.security_version = kTrustedCoreSecurityVersion;
  m.code_manifest = kTrustedCodeManifest;
  static constexpr std::string_view kLabel = "teeinfer measurement v1";
  std::vector<uint8_t> in;
  in.reserve(kLabel.size() + 2 * 32 + 4);
  in.insert(in.end(), kLabel.begin(), kLabel.end());
  in.insert(in.end(), m.code_hash.begin(), m.code_hash.end());
  in.insert(in.end(), m.signer.begin(), m.signer.end());
  for (uint16_t v : {m.product_id, m.security_version}) {
    in.push_back(static_cast<uint8_t>(v));
    in.push_back(static_cast<uint8_t>(v >> 8));
  }
  m.value = sha256(in.data(), in.size());
  return m;
}

// Records each check in order; the first failure ends the verification.
class Checks {
 public:
  explicit Checks(Verification& v) : v_(v) {}
  bool operator()(const std::string& check, bool passed, const std::string& detail) {
    v_.steps.push_back({check, passed, detail});
    if (!passed && v_.reason.empty()) v_.reason = check + ": " + detail;
    return passed;
  }

 private:
  Verification& v_;
};

bool contains(const std::vector<Digest>& set, const Digest& d) {
  return std::find(set.begin(), set.end(), d) != set.end();
}

std::string hex(const Digest& d) {
  return to_hex(d.data(), d.size());
}

// Signatures are checked over the bytes as received (as DCAP verifiers do), not a
// re-encoding: reserved fields count too.
constexpr size_t kQeReportOffset = sgx_quote::kSignedBytes + 4 + 64 + 64;

bool verify_chain(const sgx_quote::Quote& q, const std::vector<uint8_t>& evidence, const EvidencePolicy& policy,
                  Checks& check) {
  if (q.cert_type == sgx_quote::kCertPckChain)
    return check("certification chain", false,
                 "a PCK certificate chain (SGX hardware): this build has no DCAP collateral (Intel's root, TCB "
                 "info, revocation lists) to verify it, so it is refused");
  if (q.cert_type != sgx_quote::kCertSimulatedRoot)
    return check("certification chain", false, "unknown certification data type " + std::to_string(q.cert_type));
  auto root = simulated_root_public_key();
  if (q.cert_data.size() != root.size() || !std::equal(root.begin(), root.end(), q.cert_data.begin()))
    return check("certification chain", false, "certification data names a root that is not teeinfer's simulated root");
  if (!policy.allow_simulated)
    return check("certification chain", false,
                 "simulated evidence (teeinfer's emulated TEE, whose root key is public) is refused unless "
                 "simulated evidence is allowed (--allow-simulated)");
  if (!check("certification chain", true, "teeinfer's simulated root (allowed by the policy)")) return false;
  bool qe_signed =
      ecdsa_p256::verify(root, evidence.data() + kQeReportOffset, sgx_quote::kReportBodyBytes, q.qe_report_signature);
  if (!check("QE report signature", qe_signed,
             qe_signed ? "the quoting enclave's report is signed by the root"
                       : "the quoting enclave's report is not signed by the root"))
    return false;
  std::vector<uint8_t> bound;
  bound.reserve(q.attestation_key.size() + q.qe_auth_data.size());
  bound.insert(bound.end(), q.attestation_key.begin(), q.attestation_key.end());
  bound.insert(bound.end(), q.qe_auth_data.begin(), q.qe_auth_data.end());
  auto digest = sha256(bound.data(), bound.size());
  bool binds = std::equal(digest.begin(), digest.end(), q.qe_report.report_data.begin()) &&
               std::all_of(q.qe_report.report_data.begin() + 32, q.qe_report.report_data.end(),
                           [](uint8_t b) { return b == 0; });
  return check("attestation key", binds, binds ? "bound by the QE report" : "the QE report does not bind it");
}

}  // namespace

std::string to_hex(const uint8_t* bytes, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    s += digits[bytes[i] >> 4];
    s += digits[bytes[i] & 15];
  }
  return s;
}

std::vector<uint8_t> bytes_from_hex(const std::string& hex, size_t n, const std::string& what) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() != 2 * n)
    throw Error(ErrorCode::kBadArgument, what + ": expected " + std::to_string(2 * n) + " hex digits, got " +
                                             std::to_string(hex.size()) + " characters");
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) throw Error(ErrorCode::kBadArgument, what + ": '" + hex + "' is not hexadecimal");
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

const Measurement& measurement() {
  static const Measurement m = make_measurement();
  return m;
}

std::array<uint8_t, 64> report_data(const EnclaveKeys& keys, const Digest& nonce) {
  return EnclaveIdentity::report_data(keys.hpke, keys.receipt, nonce);
}

Verification verify_evidence(const std::vector<uint8_t>& evidence, const EvidencePolicy& policy,
                             const EnclaveKeys& keys, const Digest& nonce) {
  Verification v;
  Checks check(v);
  sgx_quote::Quote q;
  try {
    q = sgx_quote::decode(evidence.data(), evidence.size());
  } catch (const Error& e) {
    check("quote format", false, e.what());
    return v;
  }
  v.claims.measurement = q.body.mr_enclave;
  v.claims.signer = q.body.mr_signer;
  v.claims.product_id = q.body.isv_prod_id;
  v.claims.security_version = q.body.isv_svn;
  v.claims.debug = (q.body.attribute_flags & sgx_quote::kAttributeDebug) != 0;
  v.claims.simulated = q.cert_type == sgx_quote::kCertSimulatedRoot;
  v.claims.report_data = q.body.report_data;
  bool header = q.version == sgx_quote::kVersion && q.attestation_key_type == sgx_quote::kAttestationKeyEcdsaP256 &&
                q.tee_type == sgx_quote::kTeeTypeSgx;
  if (!check("quote format", header,
             header ? "DCAP ECDSA quote v3, " + std::to_string(evidence.size()) + " bytes"
                    : "version " + std::to_string(q.version) + ", attestation key type " +
                          std::to_string(q.attestation_key_type) + ", TEE type " + std::to_string(q.tee_type) +
                          " (expected 3, 2 (ECDSA P-256), 0 (SGX))"))
    return v;
  if (!verify_chain(q, evidence, policy, check)) return v;
  bool quote_signed = ecdsa_p256::verify(q.attestation_key, evidence.data(), sgx_quote::kSignedBytes, q.isv_signature);
  if (!check("quote signature", quote_signed,
             quote_signed ? "header and report body signed by the attestation key"
                          : "header and report body are not signed by the attestation key (altered?)"))
    return v;
  if (!check("debug attribute", !v.claims.debug || policy.allow_debug,
             v.claims.debug ? "a DEBUG enclave (its memory is readable by the host)" : "not a debug enclave"))
    return v;
  bool known = contains(policy.measurements, q.body.mr_enclave);
  if (!check("measurement", known,
             "MRENCLAVE " + hex(q.body.mr_enclave) +
                 (known ? " is one the policy allows"
                  : policy.measurements.empty()
                      ? " refused: the policy allows no measurement"
                      : " is not one of the policy's " + std::to_string(policy.measurements.size()) + " measurements")))
    return v;
  bool signer_ok = policy.signers.empty() || contains(policy.signers, q.body.mr_signer);
  if (!check("signer", signer_ok,
             "MRSIGNER " + hex(q.body.mr_signer) +
                 (policy.signers.empty() ? " (the policy pins no signer)"
                  : signer_ok            ? " is one the policy allows"
                                         : " is not one of the policy's signers")))
    return v;
  bool svn_ok = q.body.isv_svn >= policy.min_security_version;
  if (!check("security version", svn_ok,
             "ISV_SVN " + std::to_string(q.body.isv_svn) + (svn_ok ? " >= " : " is below ") + "the policy's minimum " +
                 std::to_string(policy.min_security_version)))
    return v;
  auto expected = report_data(keys, nonce);
  bool keys_bound = CRYPTO_memcmp(expected.data(), q.body.report_data.data(), 32) == 0;
  if (!check("report data: keys", keys_bound,
             keys_bound ? "binds the presented HPKE and receipt keys" : "does not bind the presented keys"))
    return v;
  bool fresh = CRYPTO_memcmp(expected.data() + 32, q.body.report_data.data() + 32, 32) == 0;
  if (!check("report data: nonce", fresh, fresh ? "binds this verifier's nonce" : "carries another nonce (replayed?)"))
    return v;
  v.ok = true;
  return v;
}

std::vector<uint8_t> seal_key_grant(const std::array<uint8_t, 32>& enclave_hpke_key, const ModelId& model_id,
                                    uint64_t model_version, uint64_t min_version, const Key& kek) {
  uint8_t plain[kKeyGrantBytes];
  std::memcpy(plain, kek.data(), 32);
  std::memcpy(plain + 32, model_id.data(), 16);
  for (int i = 0; i < 8; ++i) plain[48 + i] = static_cast<uint8_t>(min_version >> (8 * i));
  auto setup = hpke::setup_base_sender(enclave_hpke_key, reinterpret_cast<const uint8_t*>(kKeyGrantInfo.data()),
                                       kKeyGrantInfo.size());
  auto aad = key_grant_aad(model_id, model_version);
  auto sealed = setup.context.seal(aad.data(), aad.size(), plain, sizeof plain);
  wipe(plain, sizeof plain);
  std::vector<uint8_t> grant;
  grant.reserve(setup.enc.size() + sealed.size());
  grant.insert(grant.end(), setup.enc.begin(), setup.enc.end());
  grant.insert(grant.end(), sealed.begin(), sealed.end());
  return grant;
}

}  // namespace teeinfer
