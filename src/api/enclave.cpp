// teeinfer::Enclave (include/teeinfer/teeinfer.h): the trusted core's attested identity on
// the emulated TEE, and the model keys released to it.
#include <cstring>

#include "enclave/attest/enclave_identity.h"
#include "tee/sim/epc_region.h"
#include "tee/sim/quoting_enclave.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {
namespace {

// The released keys, as a KeyProvider for Model::open.
class GrantedKeys : public KeyProvider {
 public:
  explicit GrantedKeys(const EnclaveIdentity& identity) : identity_(identity) {}
  bool key_encryption_key(const KeyId& kek_id, Key& out) noexcept override {
    return identity_.key_encryption_key(kek_id, out);
  }
  // Only for the model and versions its grant names (enforced here, not by host options).
  bool key_for_model(const KeyId& kek_id, const ModelId& model_id, uint64_t model_version, Key& out) noexcept override {
    auto g = identity_.grant(model_id);
    if (!g || g->kek_id != kek_id || model_version < g->min_version) return false;
    return identity_.key_encryption_key(kek_id, out);
  }

 private:
  const EnclaveIdentity& identity_;
};

}  // namespace

struct Enclave::Impl {
  // The identity's keys live in the emulated EPC (a few pages; never evicted at this size).
  SimPlatform platform{EpcRegion::kMinResidentBytes};
  EnclaveIdentity identity;
  GrantedKeys granted{identity};
  EnclaveKeys keys;

  explicit Impl(const EnclaveConfig& config) : identity(platform, config) {
    keys.hpke = identity.hpke_public_key();
    keys.receipt = identity.receipt_public_key();
  }
};

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
