// Enclave::Impl, shared by enclave.cpp (identity, key release) and encrypted_exchange.cpp
// (the trusted entry point of encrypted requests).
#pragma once

#include <atomic>

#include "enclave/attest/enclave_identity.h"
#include "tee/sim/epc_region.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {

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

struct Enclave::Impl {
  // The identity's keys live in the emulated EPC (a few pages; never evicted at this size).
  SimPlatform platform{EpcRegion::kMinResidentBytes};
  EnclaveIdentity identity;
  GrantedKeys granted{identity};
  EnclaveKeys keys;
  std::atomic<uint64_t> receipts{0};  // signed so far: the next receipt's sequence number

  explicit Impl(const EnclaveConfig& config) : identity(platform, config) {
    keys.hpke = identity.hpke_public_key();
    keys.receipt = identity.receipt_public_key();
  }
};

}  // namespace teeinfer
