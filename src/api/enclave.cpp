// teeinfer::Enclave (include/teeinfer/teeinfer.h): the trusted core's attested identity on
// the emulated TEE, and the model keys released to it.
#include <cstring>

#include "api/enclave_impl.h"
#include "tee/sim/quoting_enclave.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {
Enclave::Enclave(Platform platform) {
  if (platform != Platform::kSim)
    throw Error(ErrorCode::kUnsupported,
                "Enclave: only the emulated TEE (Platform::kSim) has evidence; plain memory (kNone) cannot attest");
  const Measurement& m = measurement();
  EnclaveConfig config;
  config.mr_enclave = m.value;
  config.mr_signer = m.signer;
  impl_ = std::make_unique<Impl>(config);
}

Enclave::~Enclave() = default;
Enclave::Enclave(Enclave&&) noexcept = default;
Enclave& Enclave::operator=(Enclave&&) noexcept = default;

const EnclaveKeys& Enclave::keys() const {
  return impl_->keys;
}

std::vector<uint8_t> Enclave::evidence(const Digest& nonce) const {
  return SimulatedQuotingEnclave::instance().quote(impl_->identity.report(nonce));
}

void Enclave::accept_key_grant(const ModelId& model_id, uint64_t model_version, const std::vector<uint8_t>& grant) {
  if (grant.size() < hpke::kEncBytes)
    throw Error(ErrorCode::kBadInput,
                "key grant: " + std::to_string(grant.size()) + " bytes, shorter than an HPKE enc");
  impl_->identity.accept_key_grant(grant.data(), grant.data() + hpke::kEncBytes, grant.size() - hpke::kEncBytes,
                                   model_id, model_version);
}

KeyProvider& Enclave::key_provider() {
  return impl_->granted;
}

OpenOptions Enclave::open_options(const ModelId& model_id) const {
  auto g = impl_->identity.grant(model_id);
  if (!g) throw Error(ErrorCode::kBadArgument, "Enclave: no key was released for model " + to_hex(model_id));
  OpenOptions o;
  o.model_id = g->model_id;
  o.min_version = g->min_version;
  return o;
}

}  // namespace teeinfer
