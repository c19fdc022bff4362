#include "serve/key_release.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

namespace teeinfer::serve {
namespace {

using nlohmann::json;

constexpr const char* kCookie = "kbs-session-id";

httplib::Client client_for(const std::string& url) {
  httplib::Client c(url);
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(30, 0);
  return c;
}

[[noreturn]] void unreachable(const std::string& url, const std::string& step, httplib::Error e) {
  throw Error(ErrorCode::kIo, "key server " + url + ": " + step + ": " + httplib::to_string(e));
}

// The broker's {"error": ...}, or the status.
std::string reason_of(const httplib::Result& r) {
  json body = json::parse(r->body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_string()) return body["error"].get<std::string>();
  return "HTTP " + std::to_string(r->status);
}

json parse_answer(const std::string& url, const std::string& step, const httplib::Result& r) {
  if (!r) unreachable(url, step, r.error());
  if (r->status != 200)
    throw Error(ErrorCode::kBadArgument, "key server " + url + " refused " + step + ": " + reason_of(r));
  json body = json::parse(r->body, nullptr, false);
  if (!body.is_object()) throw Error(ErrorCode::kIo, "key server " + url + ": " + step + ": the answer is not JSON");
  return body;
}

std::string string_field(const json& body, const std::string& url, const char* field) {
  if (!body.contains(field) || !body[field].is_string())
    throw Error(ErrorCode::kIo, "key server " + url + ": the answer has no \"" + field + "\"");
  return body[field].get<std::string>();
}

}  // namespace

KeyRelease::KeyRelease(std::string url, Enclave& enclave) : url_(std::move(url)), enclave_(enclave) {
  if (url_.rfind("http://", 0) != 0 && url_.rfind("https://", 0) != 0)
    throw Error(ErrorCode::kBadArgument, "--key-server must be an http:// or https:// URL, not '" + url_ + "'");
}

void KeyRelease::attest() {
  httplib::Client c = client_for(url_);
  auto r = c.Post("/kbs/v0/auth", json{{"version", "0.1.0"}, {"tee", "sim-sgx"}}.dump(), "application/json");
  json auth = parse_answer(url_, "auth", r);
  std::string cookie = r->get_header_value("Set-Cookie");
  std::string prefix = std::string(kCookie) + "=";
  if (cookie.rfind(prefix, 0) != 0) throw Error(ErrorCode::kIo, "key server " + url_ + ": auth set no session cookie");
  std::string session = cookie.substr(prefix.size(), cookie.find(';') - prefix.size());
  auto nonce_bytes = bytes_from_hex(string_field(auth, url_, "nonce"), 32, "key server " + url_ + ": nonce");
  Digest nonce{};
  std::copy(nonce_bytes.begin(), nonce_bytes.end(), nonce.begin());

  const EnclaveKeys& keys = enclave_.keys();
  std::vector<uint8_t> evidence = enclave_.evidence(nonce);
  json attest = {{"tee-pubkey",
                  {{"hpke", to_hex(keys.hpke.data(), keys.hpke.size())},
                   {"receipt", to_hex(keys.receipt.data(), keys.receipt.size())}}},
                 {"tee-evidence", to_hex(evidence.data(), evidence.size())}};
  httplib::Headers headers = {{"Cookie", prefix + session}};
  parse_answer(url_, "attestation", c.Post("/kbs/v0/attest", headers, attest.dump(), "application/json"));
  session_ = session;
}

void KeyRelease::obtain(const SealedInfo& info) {
  std::lock_guard lock(mutex_);
  std::string id = to_hex(info.model_id);
  std::string path = "/kbs/v0/resource/teeinfer/model-key/" + id + "?version=" + std::to_string(info.model_version);
  for (int attempt = 0;; ++attempt) {
    if (session_.empty()) attest();
    httplib::Client c = client_for(url_);
    auto r = c.Get(path, httplib::Headers{{"Cookie", std::string(kCookie) + "=" + session_}});
    if (r && r->status == 401 && attempt == 0) {  // the session expired: attest once more
      session_.clear();
      continue;
    }
    json body = parse_answer(url_, "the key of model " + id, r);
    std::string grant_hex = string_field(body, url_, "grant");
    if (grant_hex.size() % 2 || grant_hex.size() > 1024)
      throw Error(ErrorCode::kIo, "key server " + url_ + ": the grant is malformed");
    enclave_.accept_key_grant(info.model_id, info.model_version,
                              bytes_from_hex(grant_hex, grant_hex.size() / 2, "key server grant"));
    return;
  }
}

}  // namespace teeinfer::serve
