#include "keybroker/policy.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace teeinfer::keybroker {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& source, const std::string& why) {
  throw Error(ErrorCode::kBadArgument, source + ": " + why);
}

template <size_t N>
std::array<uint8_t, N> hex_field(const json& v, const std::string& source, const std::string& field) {
  if (!v.is_string()) bad(source, field + " must be a string of " + std::to_string(2 * N) + " hex digits");
  auto bytes = bytes_from_hex(v.get<std::string>(), N, source + ": " + field);
  std::array<uint8_t, N> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

bool bool_field(const json& v, const std::string& source, const std::string& field) {
  if (!v.is_boolean()) bad(source, field + " must be true or false");
  return v.get<bool>();
}

int64_t int_field(const json& v, const std::string& source, const std::string& field, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) bad(source, field + " must be an integer");
  int64_t x = v.get<int64_t>();
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) x = hi + 1;
  if (x < lo || x > hi) bad(source, field + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

void read_measurements(const json& v, const std::string& source, Policy& p) {
  if (!v.is_object()) bad(source, "measurements must be an object: {\"<MRENCLAVE hex>\": {\"models\": [...]}}");
  for (auto& [hex, rule] : v.items()) {
    std::string field = "measurements." + hex;
    Digest m = hex_field<32>(json(hex), source, field);
    if (!rule.is_object()) bad(source, field + " must be an object with \"models\"");
    std::set<ModelId>& allowed = p.models_for[m];
    for (auto& [key, value] : rule.items()) {
      if (key != "models") bad(source, "unknown field " + field + "." + key + " (known: models)");
      if (!value.is_array()) bad(source, field + ".models must be an array of model ids");
      for (size_t i = 0; i < value.size(); ++i)
        allowed.insert(hex_field<16>(value[i], source, field + ".models[" + std::to_string(i) + "]"));
    }
    p.evidence.measurements.push_back(m);
  }
}

void read_models(const json& v, const std::string& source, Policy& p) {
  if (!v.is_object()) bad(source, "models must be an object: {\"<model id hex>\": {\"min_version\": N}}");
  for (auto& [hex, rule] : v.items()) {
    std::string field = "models." + hex;
    ModelId id = hex_field<16>(json(hex), source, field);
    if (!rule.is_object()) bad(source, field + " must be an object");
    ModelRule r;
    for (auto& [key, value] : rule.items()) {
      if (key != "min_version") bad(source, "unknown field " + field + "." + key + " (known: min_version)");
      r.min_version = static_cast<uint64_t>(int_field(value, source, field + ".min_version", 0, INT64_MAX));
    }
    p.models[id] = r;
  }
}

}  // namespace

Policy parse_policy(const std::string& json_text, const std::string& source) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    bad(source, std::string("not JSON: ") + e.what());
  }
  if (!doc.is_object()) bad(source, "must be a JSON object");
  Policy p;
  for (auto& [key, v] : doc.items()) {
    if (key == "allow_simulated")
      p.evidence.allow_simulated = bool_field(v, source, key);
    else if (key == "allow_debug")
      p.evidence.allow_debug = bool_field(v, source, key);
    else if (key == "min_security_version")
      p.evidence.min_security_version = static_cast<uint16_t>(int_field(v, source, key, 0, 65535));
    else if (key == "signers") {
      if (!v.is_array()) bad(source, "signers must be an array of MRSIGNER hex values");
      for (size_t i = 0; i < v.size(); ++i)
        p.evidence.signers.push_back(hex_field<32>(v[i], source, "signers[" + std::to_string(i) + "]"));
    } else if (key == "measurements")
      read_measurements(v, source, p);
    else if (key == "models")
      read_models(v, source, p);
    else if (key == "nonce_ttl_seconds")
      p.nonce_ttl_seconds = int_field(v, source, key, 1, 3600);
    else if (key == "session_ttl_seconds")
      p.session_ttl_seconds = int_field(v, source, key, 1, 86400);
    else
      bad(source, "unknown field '" + key +
                      "' (known: allow_simulated, allow_debug, min_security_version, signers, measurements, models, "
                      "nonce_ttl_seconds, session_ttl_seconds)");
  }
  return p;
}

Policy read_policy(const std::string& path) {
  std::error_code ec;
  uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorCode::kIo, path + ": cannot read the policy (" + ec.message() + ")");
  if (size > (uintmax_t{1} << 20)) throw Error(ErrorCode::kBadArgument, path + ": a policy over 1 MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, path + ": cannot read the policy");
  std::ostringstream s;
  s << in.rdbuf();
  return parse_policy(s.str(), path);
}

}  // namespace teeinfer::keybroker
