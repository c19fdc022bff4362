// libFuzzer target for evidence verification (verify_evidence, src/api/attestation.cpp) and
// the SGX DCAP v3 quote decoder it calls (src/common/sgx_quote.cpp). The whole input is the
// evidence. It is verified against a fixed permissive policy (simulated and debug enclaves
// allowed, this build's measurement) with fixed keys and nonce: a refusal (an Error, or
// ok == false) must name its failed step last, and an acceptance must be of this build's
// measurement, keys and nonce. It is also decoded directly: a quote that decodes must
// re-encode to exactly the input bytes (nothing ignored, nothing trailing), and say what
// the verifier read from it.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/sgx_quote.h"
#include "teeinfer/teeinfer.h"

using namespace teeinfer;

namespace {

EvidencePolicy permissive_policy() {
  EvidencePolicy p;
  p.measurements = {measurement().value};
  p.allow_simulated = true;
  p.allow_debug = true;
  return p;
}

EnclaveKeys fixed_keys() {
  EnclaveKeys k;
  for (size_t i = 0; i < k.hpke.size(); ++i) k.hpke[i] = static_cast<uint8_t>(0x11 + i);
  for (size_t i = 0; i < k.receipt.size(); ++i) k.receipt[i] = static_cast<uint8_t>(0x5A ^ i);
  return k;
}

Digest fixed_nonce() {
  Digest n{};
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(i * 7 + 1);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const EvidencePolicy policy = permissive_policy();
  static const EnclaveKeys keys = fixed_keys();
  static const Digest nonce = fixed_nonce();
  std::vector<uint8_t> evidence(data, data + size);

  bool decoded = false;
  sgx_quote::Quote q;
  try {
    q = sgx_quote::decode(data, size);
    decoded = true;
  } catch (const Error&) {
  }
  if (decoded && sgx_quote::encode(q) != evidence) __builtin_trap();

  try {
    Verification v = verify_evidence(evidence, policy, keys, nonce);
    if (v.steps.empty() || v.steps.front().check != "quote format") __builtin_trap();
    if (!decoded && (v.ok || v.steps.size() != 1)) __builtin_trap();
    if (v.ok) {
      if (!v.reason.empty()) __builtin_trap();
      if (!std::all_of(v.steps.begin(), v.steps.end(), [](const VerificationStep& s) { return s.passed; }))
        __builtin_trap();
      if (v.claims.measurement != measurement().value || !v.claims.simulated) __builtin_trap();
      if (v.claims.report_data != report_data(keys, nonce)) __builtin_trap();
    } else {
      if (v.reason.empty() || v.steps.back().passed) __builtin_trap();
      if (!std::all_of(v.steps.begin(), v.steps.end() - 1, [](const VerificationStep& s) { return s.passed; }))
        __builtin_trap();
    }
    if (decoded && (v.claims.measurement != q.body.mr_enclave || v.claims.signer != q.body.mr_signer ||
                    v.claims.security_version != q.body.isv_svn || v.claims.report_data != q.body.report_data))
      __builtin_trap();
  } catch (const Error&) {
  }
  return 0;
}
