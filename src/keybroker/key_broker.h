// The key broker: releases a sealed model's key-encryption key only to an enclave whose
// evidence its policy accepts, in the three steps of the Trustee KBS protocol:
//
//   POST /kbs/v0/auth      {"version": "0.1.0", "tee": "sim-sgx"}
//                          -> {"nonce": hex, "expires_in": s}; Set-Cookie: kbs-session-id=...
//   POST /kbs/v0/attest    {"tee-pubkey": {"hpke": hex, "receipt": hex}, "tee-evidence": hex}
//                          -> {"measurement": hex, "expires_in": s}   (nonce used up)
//   GET  /kbs/v0/resource/teeinfer/model-key/<model id hex>?version=N
//                          -> {"model_id", "version", "min_version", "grant": hex}
//
// The grant is the KEK sealed with HPKE to the attested enclave's key (Enclave::
// accept_key_grant opens it inside). Nonces are single use and expire; every decision is
// written to the audit log before it is answered. Transport-independent (key_broker_http.h
// binds it to HTTP); thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "keybroker/audit_log.h"
#include "keybroker/policy.h"

namespace teeinfer::keybroker {

struct Reply {
  int status = 200;
  nlohmann::json body;
  std::string session;  // set by auth: the session id for the cookie
};

class KeyBroker {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // `keys_dir` holds one key file per model: <model id hex>.key (mode 0600).
  KeyBroker(Policy policy, std::string keys_dir, AuditLog& audit, Clock clock = std::chrono::steady_clock::now);

  Reply auth(const std::string& body, const std::string& peer);
  Reply attest(const std::string& session, const std::string& body, const std::string& peer);
  Reply resource(const std::string& session, const std::string& model_id_hex, const std::string& version,
                 const std::string& peer);

  static constexpr size_t kMaxSessions = 4096;

 private:
  struct Session {
    Digest nonce{};
    std::chrono::steady_clock::time_point nonce_expires, attested_until;
    bool nonce_used = false, attested = false;
    Digest measurement{};
    EnclaveKeys keys;
  };
  Reply refuse(int status, const std::string& event, const std::string& reason, nlohmann::json audit);
  void purge_expired();

  Policy policy_;
  std::string keys_dir_;
  AuditLog& audit_;
  Clock clock_;
  std::mutex mutex_;
  std::map<std::string, Session> sessions_;
};

}  // namespace teeinfer::keybroker
