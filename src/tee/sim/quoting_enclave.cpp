#include "tee/sim/quoting_enclave.h"

#include <cstring>

#include "common/aes_gcm.h"
#include "common/simulated_root.h"

namespace teeinfer {
namespace {

constexpr uint16_t kQeSvn = 1, kPceSvn = 1;
const std::vector<uint8_t> kQeAuthData = {'t', 'e', 'e', 'i', 'n', 'f', 'e', 'r', '-', 's', 'i', 'm'};

}  // namespace

SimulatedQuotingEnclave::SimulatedQuotingEnclave() {
  ecdsa_p256::generate_private_key(attestation_sk_);
  attestation_pk_ = ecdsa_p256::public_key(attestation_sk_);

  // The QE's own report: REPORT_DATA[0..32] = SHA-256(attestation key || QE auth data),
  // signed by the root (in DCAP: by the PCK key, whose certificate chains to Intel's root).
  std::vector<uint8_t> bound(attestation_pk_.begin(), attestation_pk_.end());
  bound.insert(bound.end(), kQeAuthData.begin(), kQeAuthData.end());
  auto digest = sha256(bound.data(), bound.size());
  std::memcpy(qe_report_.report_data.data(), digest.data(), digest.size());
  qe_report_.isv_prod_id = 1;
  qe_report_.isv_svn = kQeSvn;
  uint8_t root_sk[ecdsa_p256::kPrivateKeyBytes];
  ecdsa_p256::derive_private_key(reinterpret_cast<const uint8_t*>(kSimulatedRootSeed.data()), kSimulatedRootSeed.size(),
                                 root_sk);
  auto body = sgx_quote::encode_report_body(qe_report_);
  qe_report_signature_ = ecdsa_p256::sign(root_sk, body.data(), body.size());
}

SimulatedQuotingEnclave::~SimulatedQuotingEnclave() {
  wipe(attestation_sk_, sizeof attestation_sk_);
}

sgx_quote::Quote SimulatedQuotingEnclave::quote_fields(const sgx_quote::ReportBody& body) const {
  sgx_quote::Quote q;
  q.qe_svn = kQeSvn;
  q.pce_svn = kPceSvn;
  q.qe_vendor_id = kSimulatedQeVendorId;
  q.body = body;
  q.attestation_key = attestation_pk_;
  q.qe_report = qe_report_;
  q.qe_report_signature = qe_report_signature_;
  q.qe_auth_data = kQeAuthData;
  q.cert_type = sgx_quote::kCertSimulatedRoot;
  auto root = simulated_root_public_key();
  q.cert_data.assign(root.begin(), root.end());
  resign(q);
  return q;
}

void SimulatedQuotingEnclave::resign(sgx_quote::Quote& q) const {
  auto signed_part = sgx_quote::signed_bytes(q);
  q.isv_signature = ecdsa_p256::sign(attestation_sk_, signed_part.data(), signed_part.size());
}

std::vector<uint8_t> SimulatedQuotingEnclave::quote(const sgx_quote::ReportBody& body) const {
  return sgx_quote::encode(quote_fields(body));
}

const SimulatedQuotingEnclave& SimulatedQuotingEnclave::instance() {
  static const SimulatedQuotingEnclave qe;
  return qe;
}

}  // namespace teeinfer
