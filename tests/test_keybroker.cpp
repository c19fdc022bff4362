// The key broker (src/keybroker): the policy file read strictly, and the KBS flow's every
// refusal — each with its reason, each written to the audit log — on a clock the test
// moves (nonce and session expiry without sleeping).
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "keybroker/key_broker.h"
#include "keybroker/key_broker_http.h"
#include "teeinfer/teeinfer.h"

using namespace teeinfer;
using namespace teeinfer::keybroker;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string hex(const uint8_t* p, size_t n) {
  return to_hex(p, n);
}
template <size_t N>
std::string hex(const std::array<uint8_t, N>& a) {
  return to_hex(a.data(), N);
}

const ModelId kModel = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
const ModelId kOtherModel = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};

std::string policy_json(uint64_t min_version = 2, bool allow_simulated = true) {
  json p = {{"allow_simulated", allow_simulated},
            {"min_security_version", measurement().security_version},
            {"measurements", {{hex(measurement().value), {{"models", {hex(kModel)}}}}}},
            {"models", {{hex(kModel), {{"min_version", min_version}}}, {hex(kOtherModel), {{"min_version", 0}}}}},
            {"nonce_ttl_seconds", 60},
            {"session_ttl_seconds", 300}};
  return p.dump();
}

// A broker with a key for both models, an audit log in a temp dir, and a clock the test moves.
class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "teeinfer_keybroker_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/keys");
    KeyFile::generate(dir_ + "/keys/" + hex(kModel) + ".key");
    KeyFile::generate(dir_ + "/keys/" + hex(kOtherModel) + ".key");
    make(policy_json());
  }
  void TearDown() override { fs::remove_all(dir_); }
  void make(const std::string& policy) {
    broker_.reset();
    audit_ = std::make_unique<AuditLog>(dir_ + "/audit.jsonl");
    broker_ = std::make_unique<KeyBroker>(parse_policy(policy, "policy.json"), dir_ + "/keys", *audit_,
                                          [this] { return now_; });
  }
  // auth: the session and its nonce.
  std::pair<std::string, Digest> auth() {
    Reply r = broker_->auth(R"({"version": "0.1.0", "tee": "sim-sgx"})", "127.0.0.1");
    EXPECT_EQ(r.status, 200) << r.body.dump();
    auto bytes = bytes_from_hex(r.body["nonce"].get<std::string>(), 32, "nonce");
    Digest nonce{};
    std::copy(bytes.begin(), bytes.end(), nonce.begin());
    return {r.session, nonce};
  }
  std::string attest_body(const EnclaveKeys& keys, const std::vector<uint8_t>& evidence) {
    return json{{"tee-pubkey", {{"hpke", hex(keys.hpke)}, {"receipt", hex(keys.receipt)}}},
                {"tee-evidence", hex(evidence.data(), evidence.size())}}
        .dump();
  }
  Reply attest(const std::string& session, const Enclave& enclave, const Digest& nonce) {
    return broker_->attest(session, attest_body(enclave.keys(), enclave.evidence(nonce)), "127.0.0.1");
  }
  // The last audit log line.
  json last_audit() {
    std::ifstream f(dir_ + "/audit.jsonl");
    std::string line, last;
    while (std::getline(f, line)) last = line;
    return json::parse(last);
  }
  void expect_refused(const Reply& r, int status, const std::string& event, const std::string& fragment) {
    EXPECT_EQ(r.status, status) << r.body.dump();
    EXPECT_NE(r.body.value("error", "").find(fragment), std::string::npos) << r.body.dump();
    json a = last_audit();
    EXPECT_EQ(a["event"], event);
    EXPECT_EQ(a["decision"], "refused");
    EXPECT_NE(a["reason"].get<std::string>().find(fragment), std::string::npos) << a.dump();
    EXPECT_TRUE(a.contains("time"));
  }

  std::string dir_;
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::now();
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<KeyBroker> broker_;
};

}  // namespace

TEST(Policy, IsReadStrictly) {
  Policy p = parse_policy(policy_json(), "policy.json");
  EXPECT_TRUE(p.evidence.allow_simulated);
  EXPECT_EQ(p.evidence.measurements, std::vector<Digest>{measurement().value});
  EXPECT_EQ(p.models_for.at(measurement().value).count(kModel), 1u);
  EXPECT_EQ(p.models.at(kModel).min_version, 2u);
  auto refused = [](const std::string& text, const std::string& fragment) {
    try {
      parse_policy(text, "policy.json");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind("policy.json: ", 0), 0u) << e.what();
    }
  };
  refused("{\"allow_simulate\": true}", "unknown field 'allow_simulate'");
  refused("{\"measurements\": {\"abc\": {\"models\": []}}}", "measurements.abc");
  refused("{\"measurements\": {\"" + std::string(64, 'a') + "\": {\"model\": []}}}", "unknown field");
  refused("{\"models\": {\"" + std::string(32, 'b') + "\": {\"min_version\": -1}}}", "min_version");
  refused("{\"allow_debug\": 1}", "allow_debug must be true or false");
  refused("[1]", "must be a JSON object");
  refused("{", "not JSON");
}

TEST_F(BrokerTest, AnAttestedEnclaveGetsItsModelKeyAndOnlyItCanOpenIt) {
  Enclave enclave;
  auto [session, nonce] = auth();
  Reply a = attest(session, enclave, nonce);
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["measurement"], hex(measurement().value));
  EXPECT_EQ(last_audit()["decision"], "attested");
  Reply r = broker_->resource(session, hex(kModel), "3", "127.0.0.1");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["min_version"], 2);
  json audit = last_audit();
  EXPECT_EQ(audit["decision"], "granted");
  EXPECT_EQ(audit["model_id"], hex(kModel));
  EXPECT_EQ(audit["measurement"], hex(measurement().value));
  // No secret in the log: neither the key nor the grant.
  std::ifstream f(dir_ + "/audit.jsonl");
  std::string log((std::istreambuf_iterator<char>(f)), {});
  KeyFile key(dir_ + "/keys/" + hex(kModel) + ".key");
  EXPECT_EQ(log.find(hex(key.key())), std::string::npos);
  EXPECT_EQ(log.find(r.body["grant"].get<std::string>().substr(0, 64)), std::string::npos);

  auto grant = bytes_from_hex(r.body["grant"], r.body["grant"].get<std::string>().size() / 2, "grant");
  Enclave other;
  EXPECT_THROW(other.accept_key_grant(kModel, 3, grant), Error);
  enclave.accept_key_grant(kModel, 3, grant);
  EXPECT_EQ(enclave.open_options(kModel).min_version, 2u);
  Key out{};
  EXPECT_TRUE(enclave.key_provider().key_for_model(key.id(), kModel, 3, out));
  EXPECT_EQ(out, key.key());
}

TEST_F(BrokerTest, EveryRefusalHasItsReasonAndIsAudited) {
  Enclave enclave, other;
  {  // a simulated quote without allow_simulated
    make(policy_json(2, false));
    auto [s, n] = auth();
    expect_refused(attest(s, enclave, n), 403, "attest", "simulated evidence");
    make(policy_json());
  }
  {  // another measurement (the policy pins another MRENCLAVE)
    Digest another = measurement().value;
    another[0] ^= 1;
    json p = json::parse(policy_json());
    p["measurements"] = {{hex(another), {{"models", {hex(kModel)}}}}};
    make(p.dump());
    auto [s, n] = auth();
    expect_refused(attest(s, enclave, n), 403, "attest", "measurement: MRENCLAVE " + hex(measurement().value));
    make(policy_json());
  }
  {  // a lower ISV_SVN than the policy's minimum
    json p = json::parse(policy_json());
    p["min_security_version"] = measurement().security_version + 1;
    make(p.dump());
    auto [s, n] = auth();
    expect_refused(attest(s, enclave, n), 403, "attest", "security version");
    make(policy_json());
  }
  {  // REPORT_DATA does not bind the presented key (another enclave's keys, this one's quote)
    auto [s, n] = auth();
    expect_refused(broker_->attest(s, attest_body(other.keys(), enclave.evidence(n)), "127.0.0.1"), 403, "attest",
                   "report data: keys");
  }
  {  // a bad signature
    auto [s, n] = auth();
    auto evidence = enclave.evidence(n);
    evidence[48 + 384 + 4 + 3] ^= 1;
    expect_refused(broker_->attest(s, attest_body(enclave.keys(), evidence), "127.0.0.1"), 403, "attest",
                   "quote signature");
  }
  {  // a replayed nonce: the same session twice, and a quote made for another session's nonce
    auto [s, n] = auth();
    ASSERT_EQ(attest(s, enclave, n).status, 200);
    expect_refused(attest(s, enclave, n), 401, "attest", "already used");
    auto [s2, n2] = auth();
    (void)n2;
    expect_refused(attest(s2, enclave, n), 403, "attest", "report data: nonce");
  }
  {  // an expired nonce
    auto [s, n] = auth();
    now_ += std::chrono::seconds(61);
    expect_refused(attest(s, enclave, n), 401, "attest", "expired");
  }
  {  // a model id not allowed for this measurement; a version below the minimum; no key; no attestation
    auto [s, n] = auth();
    ASSERT_EQ(attest(s, enclave, n).status, 200);
    expect_refused(broker_->resource(s, hex(kOtherModel), "1", "127.0.0.1"), 403, "resource", "is not released to");
    expect_refused(broker_->resource(s, hex(kModel), "1", "127.0.0.1"), 403, "resource",
                   "below the policy's minimum 2");
    expect_refused(broker_->resource(s, hex(kModel), "x", "127.0.0.1"), 400, "resource", "?version=");
    expect_refused(broker_->resource(s, "../../etc", "3", "127.0.0.1"), 400, "resource", "32 hex digits");
    // Bytes that are not UTF-8 in what the audit log records: still a refusal, still logged.
    expect_refused(broker_->resource("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", "\xc3\x28", "3", "127.0.0.1"), 400, "resource",
                   "32 hex digits");
    now_ += std::chrono::seconds(301);
    expect_refused(broker_->resource(s, hex(kModel), "3", "127.0.0.1"), 401, "resource", "expired");
    expect_refused(broker_->resource("nosuch", hex(kModel), "3", "127.0.0.1"), 401, "resource", "not attested");
  }
  {  // malformed requests
    expect_refused(broker_->auth("{", "127.0.0.1"), 400, "auth", "JSON object");
    auto [s, n] = auth();
    (void)n;
    expect_refused(broker_->attest(s, "{\"tee-pubkey\": 1}", "127.0.0.1"), 400, "attest", "tee-pubkey");
    expect_refused(broker_->attest("nosuch", attest_body(enclave.keys(), {1, 2}), "127.0.0.1"), 401, "attest",
                   "unknown or expired session");
  }
}

TEST_F(BrokerTest, TheBrokerHoldsNoKeyForAnAllowedModelIs404) {
  fs::remove(dir_ + "/keys/" + hex(kModel) + ".key");
  Enclave enclave;
  auto [s, n] = auth();
  ASSERT_EQ(attest(s, enclave, n).status, 200);
  expect_refused(broker_->resource(s, hex(kModel), "2", "127.0.0.1"), 404, "resource", "holds no key");
}

// The HTTP binding refuses what a hostile client sends before it reaches the broker: a
// chunked or length-less body (411: httplib would read it whole), an oversized one (413),
// an unknown route (404), all as {"error"} JSON; the session travels in its cookie.
TEST_F(BrokerTest, TheHttpBindingRefusesHostileRequestsWithJsonErrors) {
  KeyBrokerHttp http(*broker_, "127.0.0.1", 0);
  int port = http.bind();
  std::thread serving([&] { http.serve(); });
  struct StopOnExit {  // (an ASSERT that returns early must not leave the thread joinable)
    KeyBrokerHttp& http;
    std::thread& thread;
    ~StopOnExit() {
      http.stop();
      thread.join();
    }
  } stop_on_exit{http, serving};
  // (a fresh client for each hostile request: a refusal may close the connection)
  auto fresh = [port] { return httplib::Client("127.0.0.1", port); };
  auto is_json_error = [](const httplib::Result& r, int status) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    json body = json::parse(r->body, nullptr, false);
    EXPECT_TRUE(body.is_object() && body.contains("error")) << r->body;
  };
  {  // over the body limit: 413, or (when the server answers and closes before the client has
     // sent it all) no response at all; never an answer from the broker
    auto big = fresh().Post("/kbs/v0/auth", std::string(KeyBrokerHttp::kMaxBodyBytes + 1, 'x'), "application/json");
    if (big) is_json_error(big, 413);
  }
  is_json_error(fresh().Get("/kbs/v0/nosuch"), 404);
  is_json_error(fresh().Get("/kbs/v0/resource/teeinfer/model-key/" + hex(kModel)), 400);  // no ?version=
  // A chunked body, by hand (httplib's client would send a length).
  httplib::Client raw("127.0.0.1", port);
  auto chunked = raw.Post(
      "/kbs/v0/auth",
      [](size_t, httplib::DataSink& sink) {
        sink.write("{}", 2);
        sink.done();
        return true;
      },
      "application/json");
  // 411, or no response when the server closed before the client wrote its last chunk;
  // either way the broker never saw it (no nonce was issued).
  if (chunked) is_json_error(chunked, 411);
  {
    std::ifstream f(dir_ + "/audit.jsonl");
    std::string log((std::istreambuf_iterator<char>(f)), {});
    EXPECT_EQ(log.find("nonce issued"), std::string::npos) << log;
  }
  // The whole flow over HTTP, the session in the cookie.
  httplib::Client c = fresh();
  auto a = c.Post("/kbs/v0/auth", R"({"version": "0.1.0", "tee": "sim-sgx"})", "application/json");
  ASSERT_EQ(a->status, 200);
  std::string cookie = a->get_header_value("Set-Cookie");
  ASSERT_EQ(cookie.rfind("kbs-session-id=", 0), 0u) << cookie;
  std::string session = cookie.substr(15, cookie.find(';') - 15);
  auto nonce_bytes = bytes_from_hex(json::parse(a->body)["nonce"], 32, "nonce");
  Digest nonce{};
  std::copy(nonce_bytes.begin(), nonce_bytes.end(), nonce.begin());
  Enclave enclave;
  httplib::Headers with_session = {{"Cookie", "other=1; kbs-session-id=" + session}};
  auto t =
      c.Post("/kbs/v0/attest", with_session, attest_body(enclave.keys(), enclave.evidence(nonce)), "application/json");
  ASSERT_EQ(t->status, 200) << t->body;
  auto k = c.Get("/kbs/v0/resource/teeinfer/model-key/" + hex(kModel) + "?version=2", with_session);
  ASSERT_EQ(k->status, 200) << k->body;
  auto no_cookie = c.Get("/kbs/v0/resource/teeinfer/model-key/" + hex(kModel) + "?version=2");
  is_json_error(no_cookie, 401);
}
