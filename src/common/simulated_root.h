// The root of teeinfer's *simulated* attestation chain (the emulated TEE's quoting
// enclave is endorsed by it). Its private key is derived from a published seed, so anyone
// can forge a simulated quote: that is why every verifier refuses simulated evidence
// unless explicitly allowed (--allow-simulated). Real hardware chains to Intel's root.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/ecdsa_p256.h"

namespace teeinfer {

constexpr std::string_view kSimulatedRootSeed = "teeinfer simulated attestation root v1 (public: never trust)";
// The enclave signer (MRSIGNER) of teeinfer's emulated enclaves, derived the same way.
constexpr std::string_view kSimulatedSignerSeed = "teeinfer simulated enclave signer v1 (public: never trust)";
// QE vendor id of simulated quotes (Intel's QE is 939A7233-F79C-4CA9-940A-0DB3957F0607).
constexpr std::array<uint8_t, 16> kSimulatedQeVendorId = {'t', 'e', 'e', 'i', 'n', 'f', 'e', 'r',
                                                          '-', 's', 'i', 'm', '-', 'q', 'e', '1'};

inline ecdsa_p256::PublicKey simulated_root_public_key() {
  uint8_t sk[ecdsa_p256::kPrivateKeyBytes];
  ecdsa_p256::derive_private_key(reinterpret_cast<const uint8_t*>(kSimulatedRootSeed.data()), kSimulatedRootSeed.size(),
                                 sk);
  return ecdsa_p256::public_key(sk);  // (the key is public knowledge: nothing to wipe)
}

}  // namespace teeinfer
