// A key broker's release policy (policy.json), read strictly: unknown fields, malformed
// hex and wrong types are refused naming the field, so a typo cannot widen the policy.
//
//   {
//     "allow_simulated": false,          // evidence of teeinfer's emulated TEE (--allow-simulated also sets it)
//     "allow_debug": false,              // enclaves with the DEBUG attribute
//     "min_security_version": 1,         // lowest ISV_SVN
//     "signers": ["<MRSIGNER hex>"],     // optional: allowed MRSIGNER values
//     "measurements": {                  // allowed MRENCLAVE values, and the models each may receive
//       "<MRENCLAVE hex>": {"models": ["<model id hex>"]}
//     },
//     "models": {                        // per model id: the lowest version released (rollback)
//       "<model id hex>": {"min_version": 2}
//     },
//     "nonce_ttl_seconds": 60,           // an unused nonce expires
//     "session_ttl_seconds": 300         // an attested session expires
//   }
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "teeinfer/teeinfer.h"

namespace teeinfer::keybroker {

struct ModelRule {
  uint64_t min_version = 0;
};

struct Policy {
  EvidencePolicy evidence;                         // measurements, signers, ISV_SVN, simulated, debug
  std::map<Digest, std::set<ModelId>> models_for;  // measurement -> model ids it may receive
  std::map<ModelId, ModelRule> models;             // model id -> its rule
  int64_t nonce_ttl_seconds = 60, session_ttl_seconds = 300;
};

// Throws Error(kBadArgument) naming the file and field.
Policy parse_policy(const std::string& json_text, const std::string& source);
Policy read_policy(const std::string& path);

}  // namespace teeinfer::keybroker
