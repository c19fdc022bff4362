// libFuzzer target for the key broker (src/keybroker/): its policy parser and the three KBS
// request handlers, with a fixed valid policy, an empty keys directory and an audit log that
// logs nowhere. The first input byte picks what the rest is:
//   mode 0  a policy.json (parse_policy); one that parses must be within its limits, and a
//           broker on it must issue a nonce
//   mode 1  an auth body, to a fresh broker
//   mode 2  an attest body, to a fresh broker, on a session a real auth opened (bit 2: the
//           nonce has expired by then); sent twice: the second is a replay (401) unless the
//           body itself is refused (400)
//   mode 3  "<model id>\n<version>\n<session>" for resource, on a session that attested
//           with genuine evidence of this build's enclave (bit 2: on the fuzzed session;
//           bit 3: on a session that only did auth)
// A refusal is a 4xx reply; an Error is also a refusal. Evidence cannot be accepted (the
// nonce is random) and no key can be granted (the keys directory is empty).
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "keybroker/key_broker.h"
#include "keybroker/policy.h"
#include "teeinfer/teeinfer.h"

using namespace teeinfer;
using namespace teeinfer::keybroker;
using nlohmann::json;

namespace {

constexpr uint8_t kModePolicy = 0, kModeAuth = 1, kModeAttest = 2, kModeResource = 3;
constexpr const char* kAuthBody = R"({"version": "0.1.0", "tee": "sim-sgx"})";

// The brokers' clock: fixed, moved on only where an input asks for an expired nonce.
const std::chrono::steady_clock::time_point kStart{std::chrono::hours(1000)};
std::chrono::steady_clock::time_point g_now = kStart;
std::chrono::steady_clock::time_point fuzz_clock() {
  return g_now;
}

char g_keys_dir[] = "/tmp/teeinfer-fuzz-key-broker-XXXXXX";
void remove_keys_dir() {
  ::rmdir(g_keys_dir);
}

std::string policy_text() {
  const Measurement& m = measurement();
  return json{{"allow_simulated", true},
              {"allow_debug", false},
              {"min_security_version", m.security_version},
              {"measurements",
               {{to_hex(m.value.data(), m.value.size()),
                 {{"models", {"00112233445566778899aabbccddeeff", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}}}}}},
              {"models", {{"00112233445566778899aabbccddeeff", {{"min_version", 2}}}}},
              {"nonce_ttl_seconds", 60},
              {"session_ttl_seconds", 300}}
      .dump();
}

struct Fixture {
  AuditLog audit{""};
  Policy policy = parse_policy(policy_text(), "fuzz policy");
  std::string keys_dir;
  KeyBroker attested_broker;  // for resource: one session attested, one only authenticated
  std::string attested_session, unattested_session;

  Fixture() : keys_dir(make_keys_dir()), attested_broker(policy, keys_dir, audit, fuzz_clock) {
    Reply a = attested_broker.auth(kAuthBody, "fuzz");
    if (a.status != 200) __builtin_trap();
    auto nonce_bytes = bytes_from_hex(a.body["nonce"].get<std::string>(), 32, "nonce");
    Digest nonce{};
    std::copy(nonce_bytes.begin(), nonce_bytes.end(), nonce.begin());
    Enclave enclave;
    auto evidence = enclave.evidence(nonce);
    const EnclaveKeys& k = enclave.keys();
    std::string body =
        json{
            {"tee-pubkey",
             {{"hpke", to_hex(k.hpke.data(), k.hpke.size())}, {"receipt", to_hex(k.receipt.data(), k.receipt.size())}}},
            {"tee-evidence", to_hex(evidence.data(), evidence.size())}}
            .dump();
    Reply r = attested_broker.attest(a.session, body, "fuzz");
    if (r.status != 200) __builtin_trap();
    attested_session = a.session;
    Reply u = attested_broker.auth(kAuthBody, "fuzz");
    if (u.status != 200) __builtin_trap();
    unattested_session = u.session;
  }

  static std::string make_keys_dir() {
    if (!::mkdtemp(g_keys_dir)) __builtin_trap();
    std::atexit(remove_keys_dir);
    return g_keys_dir;
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// As the HTTP binding answers it.
void check_reply(const Reply& r, std::initializer_list<int> allowed) {
  bool ok = false;
  for (int s : allowed) ok |= r.status == s;
  if (!ok) __builtin_trap();
  if (r.status != 200 && !r.session.empty()) __builtin_trap();
  (void)r.body.dump();
}

void fuzz_policy(const std::string& text) {
  Policy p;
  try {
    p = parse_policy(text, "fuzz");
  } catch (const Error&) {
    return;
  }
  if (p.nonce_ttl_seconds < 1 || p.nonce_ttl_seconds > 3600) __builtin_trap();
  if (p.session_ttl_seconds < 1 || p.session_ttl_seconds > 86400) __builtin_trap();
  for (const auto& [m, models] : p.models_for)
    if (std::find(p.evidence.measurements.begin(), p.evidence.measurements.end(), m) == p.evidence.measurements.end())
      __builtin_trap();
  KeyBroker broker(std::move(p), fixture().keys_dir, fixture().audit, fuzz_clock);
  Reply r = broker.auth(kAuthBody, "fuzz");
  check_reply(r, {200});
  if (r.session.size() != 64) __builtin_trap();
}

void fuzz_auth(const std::string& body) {
  KeyBroker broker(fixture().policy, fixture().keys_dir, fixture().audit, fuzz_clock);
  Reply r = broker.auth(body, "fuzz");
  check_reply(r, {200, 400});
  if (r.status == 200 && (r.session.size() != 64 || r.body["nonce"].get<std::string>().size() != 64)) __builtin_trap();
}

void fuzz_attest(const std::string& body, bool expired) {
  KeyBroker broker(fixture().policy, fixture().keys_dir, fixture().audit, fuzz_clock);
  Reply a = broker.auth(kAuthBody, "fuzz");
  check_reply(a, {200});
  if (expired) g_now += std::chrono::seconds(fixture().policy.nonce_ttl_seconds);
  Reply first = broker.attest(a.session, body, "fuzz");
  check_reply(first, {400, 401, 403});
  if (expired && first.status == 403) __builtin_trap();  // an expired nonce is never checked against
  Reply replay = broker.attest(a.session, body, "fuzz");
  check_reply(replay, {first.status == 400 ? 400 : 401});
}

void fuzz_resource(const std::string& rest, uint8_t mode) {
  size_t a = rest.find('\n');
  std::string id = rest.substr(0, a), version, session;
  if (a != std::string::npos) {
    size_t b = rest.find('\n', a + 1);
    version = rest.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
    if (b != std::string::npos) session = rest.substr(b + 1);
  }
  Fixture& f = fixture();
  bool fuzzed_session = mode & 4, unattested = mode & 8;
  if (!fuzzed_session) session = unattested ? f.unattested_session : f.attested_session;
  Reply r = f.attested_broker.resource(session, id, version, "fuzz");
  // 404: an allowed model at an allowed version, whose key the (empty) keys directory lacks.
  check_reply(r, {400, 401, 403, 404});
  if (!fuzzed_session && !unattested && r.status == 401) __builtin_trap();
  if (!fuzzed_session && unattested && r.status != 400 && r.status != 401) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  fixture();
  g_now = kStart;
  uint8_t mode = data[0];
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (mode & 3) {
      case kModePolicy:
        fuzz_policy(rest);
        break;
      case kModeAuth:
        fuzz_auth(rest);
        break;
      case kModeAttest:
        fuzz_attest(rest, mode & 4);
        break;
      case kModeResource:
        fuzz_resource(rest, mode);
        break;
    }
  } catch (const Error&) {
  }
  return 0;
}
