#include "keybroker/key_broker.h"

#include <openssl/rand.h>

#include <filesystem>

namespace teeinfer::keybroker {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

Digest random_digest() {
  Digest d{};
  if (RAND_bytes(d.data(), static_cast<int>(d.size())) != 1)
    throw Error(ErrorCode::kKernel, "OpenSSL: no random bytes for a nonce");
  return d;
}

std::string hex(const uint8_t* p, size_t n) {
  return to_hex(p, n);
}
template <size_t N>
std::string hex(const std::array<uint8_t, N>& a) {
  return to_hex(a.data(), a.size());
}

// The session id in the audit log: enough to follow one enclave's steps, not the id itself.
std::string session_tag(const std::string& session) {
  return session.substr(0, 8);
}

template <size_t N>
bool parse_hex(const json& v, std::array<uint8_t, N>& out) {
  if (!v.is_string()) return false;
  try {
    auto bytes = bytes_from_hex(v.get<std::string>(), N, "");
    std::copy(bytes.begin(), bytes.end(), out.begin());
    return true;
  } catch (const Error&) {
    return false;
  }
}

bool parse_evidence(const json& v, std::vector<uint8_t>& out) {
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() % 2 || s.size() > 2 * (size_t{64} << 10)) return false;
  try {
    out = bytes_from_hex(s, s.size() / 2, "");
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

KeyBroker::KeyBroker(Policy policy, std::string keys_dir, AuditLog& audit, Clock clock)
    : policy_(std::move(policy)), keys_dir_(std::move(keys_dir)), audit_(audit), clock_(std::move(clock)) {}

Reply KeyBroker::refuse(int status, const std::string& event, const std::string& reason, json audit) {
  audit["event"] = event;
  audit["decision"] = "refused";
  audit["reason"] = reason;
  audit_.record(std::move(audit));
  return {status, json{{"error", reason}}, ""};
}

void KeyBroker::purge_expired() {
  auto now = clock_();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    const Session& s = it->second;
    bool alive = s.attested ? now < s.attested_until : (!s.nonce_used && now < s.nonce_expires);
    it = alive ? std::next(it) : sessions_.erase(it);
  }
}

Reply KeyBroker::auth(const std::string& body, const std::string& peer) {
  json req = json::parse(body, nullptr, false);
  json audit = {{"peer", peer}};
  if (req.is_discarded() || !req.is_object())
    return refuse(400, "auth", "the request body must be a JSON object {\"version\", \"tee\"}", audit);
  if (!req.contains("tee") || !req["tee"].is_string())
    return refuse(400, "auth", "\"tee\" is missing (the TEE type, e.g. \"sim-sgx\")", audit);
  std::lock_guard lock(mutex_);
  purge_expired();
  if (sessions_.size() >= kMaxSessions)
    return refuse(503, "auth", "too many sessions in progress (" + std::to_string(kMaxSessions) + ")", audit);
  Digest id = random_digest();
  Session s;
  s.nonce = random_digest();
  s.nonce_expires = clock_() + std::chrono::seconds(policy_.nonce_ttl_seconds);
  std::string session = hex(id);
  sessions_[session] = s;
  audit["event"] = "auth";
  audit["session"] = session_tag(session);
  audit["tee"] = req["tee"];
  audit["decision"] = "nonce issued";
  audit_.record(audit);
  return {200, json{{"nonce", hex(s.nonce)}, {"expires_in", policy_.nonce_ttl_seconds}}, session};
}

Reply KeyBroker::attest(const std::string& session, const std::string& body, const std::string& peer) {
  json audit = {{"peer", peer}, {"session", session_tag(session)}};
  json req = json::parse(body, nullptr, false);
  EnclaveKeys keys;
  std::vector<uint8_t> evidence;
  if (req.is_discarded() || !req.is_object() || !req.contains("tee-pubkey") || !req["tee-pubkey"].is_object() ||
      !parse_hex(req["tee-pubkey"].value("hpke", json()), keys.hpke) ||
      !parse_hex(req["tee-pubkey"].value("receipt", json()), keys.receipt))
    return refuse(400, "attest", "\"tee-pubkey\" must be {\"hpke\": 64 hex digits, \"receipt\": 128 hex digits}",
                  audit);
  if (!req.contains("tee-evidence") || !parse_evidence(req["tee-evidence"], evidence))
    return refuse(400, "attest", "\"tee-evidence\" must be the quote in hex (at most 64 KiB)", audit);

  std::lock_guard lock(mutex_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return refuse(401, "attest", "unknown or expired session: start with /kbs/v0/auth", audit);
  Session& s = it->second;
  if (s.nonce_used || s.attested)
    return refuse(401, "attest", "this session's nonce was already used (replay refused): start a new one", audit);
  if (clock_() >= s.nonce_expires) {
    sessions_.erase(it);
    return refuse(401, "attest", "the nonce expired (after " + std::to_string(policy_.nonce_ttl_seconds) + " s)",
                  audit);
  }
  s.nonce_used = true;  // one attempt per nonce, whatever its outcome
  Verification v = verify_evidence(evidence, policy_.evidence, keys, s.nonce);
  audit["measurement"] = hex(v.claims.measurement);
  audit["security_version"] = v.claims.security_version;
  audit["simulated"] = v.claims.simulated;
  if (!v.ok) return refuse(403, "attest", "evidence refused: " + v.reason, audit);
  s.attested = true;
  s.measurement = v.claims.measurement;
  s.keys = keys;
  s.attested_until = clock_() + std::chrono::seconds(policy_.session_ttl_seconds);
  audit["event"] = "attest";
  audit["decision"] = "attested";
  audit_.record(audit);
  return {200, json{{"measurement", hex(v.claims.measurement)}, {"expires_in", policy_.session_ttl_seconds}}, ""};
}

Reply KeyBroker::resource(const std::string& session, const std::string& model_id_hex, const std::string& version,
                          const std::string& peer) {
  json audit = {{"peer", peer}, {"session", session_tag(session)}, {"model_id", model_id_hex}};
  ModelId model_id{};
  if (!parse_hex(json(model_id_hex), model_id))
    return refuse(400, "resource", "the model id must be 32 hex digits", audit);
  uint64_t model_version = 0;
  try {
    size_t used = 0;
    model_version = std::stoull(version, &used);
    if (used != version.size() || version.empty() || version[0] == '-') throw std::invalid_argument("");
  } catch (const std::exception&) {
    return refuse(400, "resource", "?version= must be the model version the enclave opens (a whole number)", audit);
  }
  audit["model_version"] = model_version;

  Session s;
  {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(session);
    if (it == sessions_.end() || !it->second.attested)
      return refuse(401, "resource", "this session is not attested: auth and attest first", audit);
    if (clock_() >= it->second.attested_until) {
      sessions_.erase(it);
      return refuse(401, "resource", "the attested session expired: attest again", audit);
    }
    s = it->second;
  }
  audit["measurement"] = hex(s.measurement);
  auto allowed = policy_.models_for.find(s.measurement);
  if (allowed == policy_.models_for.end() || !allowed->second.count(model_id))
    return refuse(403, "resource", "model " + model_id_hex + " is not released to measurement " + hex(s.measurement),
                  audit);
  auto rule = policy_.models.find(model_id);
  uint64_t min_version = rule == policy_.models.end() ? 0 : rule->second.min_version;
  if (model_version < min_version)
    return refuse(403, "resource",
                  "model version " + std::to_string(model_version) + " is below the policy's minimum " +
                      std::to_string(min_version) + " (rollback refused)",
                  audit);
  fs::path key_path = fs::path(keys_dir_) / (hex(model_id) + ".key");  // (lowercase, parsed: no path tricks)
  std::error_code ec;
  if (!fs::is_regular_file(key_path, ec))
    return refuse(404, "resource", "the broker holds no key for model " + model_id_hex, audit);
  std::vector<uint8_t> grant;
  try {
    KeyFile key(key_path.string());
    grant = seal_key_grant(s.keys.hpke, model_id, model_version, min_version, key.key());
  } catch (const Error& e) {
    return refuse(500, "resource", std::string("the broker's key for this model is unusable: ") + e.what(), audit);
  }
  audit["event"] = "resource";
  audit["decision"] = "granted";
  audit["min_version"] = min_version;
  audit_.record(audit);
  return {200,
          json{{"model_id", model_id_hex},
               {"version", model_version},
               {"min_version", min_version},
               {"grant", hex(grant.data(), grant.size())}},
          ""};
}

}  // namespace teeinfer::keybroker
