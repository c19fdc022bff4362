// The emulated TEE's quoting enclave: turns an enclave's report body into a quote in the
// SGX DCAP ECDSA v3 layout (common/sgx_quote.h). Its attestation key is fresh per process
// and endorsed by the simulated root (common/simulated_root.h) through a QE report whose
// REPORT_DATA binds the attestation key, as a real QE's is endorsed by its PCK
// certificate. A real DCAP backend would ask the platform's quoting enclave instead
// (sgx_qe_get_quote); docs/attestation.md says what that takes.
#pragma once

#include <cstdint>
#include <vector>

#include "common/ecdsa_p256.h"
#include "common/sgx_quote.h"

namespace teeinfer {

class SimulatedQuotingEnclave {
 public:
  SimulatedQuotingEnclave();
  ~SimulatedQuotingEnclave();
  SimulatedQuotingEnclave(const SimulatedQuotingEnclave&) = delete;
  SimulatedQuotingEnclave& operator=(const SimulatedQuotingEnclave&) = delete;

  std::vector<uint8_t> quote(const sgx_quote::ReportBody& body) const;
  // The quote before encoding (tests build altered quotes from it).
  sgx_quote::Quote quote_fields(const sgx_quote::ReportBody& body) const;
  // Signs header || body again with the attestation key (tests: a validly signed quote
  // with altered fields).
  void resign(sgx_quote::Quote& quote) const;

  // The process's instance.
  static const SimulatedQuotingEnclave& instance();

 private:
  uint8_t attestation_sk_[ecdsa_p256::kPrivateKeyBytes];
  ecdsa_p256::PublicKey attestation_pk_{};
  sgx_quote::ReportBody qe_report_;
  ecdsa_p256::Signature qe_report_signature_{};
};

}  // namespace teeinfer
