#include "serve/oip_client.h"

#include <httplib.h>
#include <openssl/rand.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "protocol/oip_codec.h"

namespace teeinfer::serve {

using nlohmann::json;

namespace {

json tensor_values(const Tensor& t) {
  json data = json::array();
  const uint8_t* p = t.bytes.data();
  for (int64_t i = 0; i < t.elements(); ++i) {
    switch (t.dtype) {
      case DType::kF32: {
        float f;
        std::memcpy(&f, p + 4 * i, 4);
        data.push_back(f);
        break;
      }
      case DType::kI64: {
        int64_t v;
        std::memcpy(&v, p + 8 * i, 8);
        data.push_back(v);
        break;
      }
      case DType::kI32: {
        int32_t v;
        std::memcpy(&v, p + 4 * i, 4);
        data.push_back(v);
        break;
      }
      case DType::kU8:
        data.push_back(p[i]);
        break;
      case DType::kS8:
        data.push_back(static_cast<int8_t>(p[i]));
        break;
      case DType::kBool:
        data.push_back(p[i] != 0);
        break;
    }
  }
  return data;
}

[[noreturn]] void bad_response(const std::string& what) {
  throw Error(ErrorCode::kIo, "the server's response is not valid: " + what);
}

std::vector<TensorInfo> tensors_of(const json& list) {
  std::vector<TensorInfo> out;
  if (!list.is_array()) bad_response("metadata inputs/outputs must be arrays");
  for (const json& t : list) {
    TensorInfo info;
    info.name = t.value("name", "");
    std::optional<DType> d = dtype_of_oip(t.value("datatype", ""));
    if (!d) bad_response("tensor '" + info.name + "' has a datatype teeinfer has no tensors of");
    info.dtype = *d;
    info.dims = t.value("shape", Dims{});
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace

OipClient::OipClient(const std::string& url, int timeout_s) : url_(url) {
  if (url.rfind("http://", 0) != 0)
    throw Error(ErrorCode::kBadArgument, "server URL '" + url + "' must start with http://");
  while (url_.size() > 7 && url_.back() == '/') url_.pop_back();  // http://host:port/ as well
  if (url_.find('/', 7) != std::string::npos)
    throw Error(ErrorCode::kBadArgument,
                "server URL '" + url + "' must be http://HOST[:PORT] (the /v2 paths are added)");
  http_ = std::make_unique<httplib::Client>(url_);
  http_->set_connection_timeout(10, 0);
  http_->set_read_timeout(timeout_s, 0);
  http_->set_write_timeout(timeout_s, 0);
  http_->set_keep_alive(true);
  http_->set_tcp_nodelay(true);  // small requests: no Nagle delay waiting for an ACK
}

OipClient::~OipClient() = default;

bool OipClient::live() {
  auto r = http_->Get("/v2/health/live");
  return r && r->status == 200;
}

bool OipClient::ready() {
  auto r = http_->Get("/v2/health/ready");
  return r && r->status == 200;
}

namespace {

json checked_json(const httplib::Result& r, const std::string& url, const std::string& what) {
  if (!r) throw Error(ErrorCode::kIo, "cannot reach " + url + " (" + httplib::to_string(r.error()) + ")");
  json doc = json::parse(r->body, nullptr, false);
  if (r->status != 200) {
    std::string message = doc.is_object() && doc.contains("error") && doc["error"].is_string()
                              ? doc["error"].get<std::string>()
                              : r->body.substr(0, 200);
    throw Error(ErrorCode::kBadInput, what + ": the server answered " + std::to_string(r->status) + ": " + message);
  }
  if (doc.is_discarded()) bad_response(what + " is not JSON");
  return doc;
}

}  // namespace

ModelMetadata OipClient::metadata(const std::string& model) {
  json doc = checked_json(http_->Get("/v2/models/" + model), url_, "model '" + model + "'");
  ModelMetadata m;
  m.name = doc.value("name", "");
  m.platform = doc.value("platform", "");
  if (doc.contains("versions") && doc["versions"].is_array())
    for (const json& v : doc["versions"])
      if (v.is_string()) m.versions.push_back(v.get<std::string>());
  m.inputs = tensors_of(doc.value("inputs", json::array()));
  m.outputs = tensors_of(doc.value("outputs", json::array()));
  return m;
}

std::string OipClient::request_body(const std::vector<Tensor>& inputs, const InferOptions& options,
                                    std::optional<uint64_t>& json_length) {
  json doc;
  if (options.id) doc["id"] = *options.id;
  if (options.timeout_ms) doc["parameters"]["timeout_ms"] = *options.timeout_ms;
  if (options.binary) doc["parameters"]["binary_data_output"] = true;
  std::string binary;
  json ins = json::array();
  for (const Tensor& t : inputs) {
    json in = {{"name", t.name}, {"datatype", oip_datatype(t.dtype)}, {"shape", t.dims}};
    if (options.binary) {
      in["parameters"] = {{"binary_data_size", t.bytes.size()}};
      binary.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
    } else {
      in["data"] = tensor_values(t);
    }
    ins.push_back(std::move(in));
  }
  doc["inputs"] = std::move(ins);
  if (!options.outputs.empty()) {
    json outs = json::array();
    for (const std::string& o : options.outputs) outs.push_back({{"name", o}});
    doc["outputs"] = std::move(outs);
  }
  std::string body = doc.dump();
  json_length.reset();
  if (options.binary) {
    json_length = body.size();
    body += binary;
  }
  return body;
}

InferResult OipClient::decode_response(const std::string& body, std::optional<uint64_t> json_length) {
  if (json_length && *json_length > body.size()) bad_response("Inference-Header-Content-Length exceeds the body");
  std::string_view header = json_length ? std::string_view(body).substr(0, *json_length) : std::string_view(body);
  std::string_view binary = json_length ? std::string_view(body).substr(*json_length) : std::string_view{};
  json doc = json::parse(header.begin(), header.end(), nullptr, false);
  if (!doc.is_object() || !doc.contains("outputs") || !doc["outputs"].is_array()) bad_response("no outputs array");
  InferResult r;
  if (doc.contains("id") && doc["id"].is_string()) r.id = doc["id"].get<std::string>();
  r.model_name = doc.value("model_name", "");
  r.model_version = doc.value("model_version", "");
  size_t used = 0;
  for (const json& o : doc["outputs"]) {
    Tensor t;
    t.name = o.value("name", "");
    std::optional<DType> d = dtype_of_oip(o.value("datatype", ""));
    if (d != DType::kF32 && d != DType::kI64) bad_response("output '" + t.name + "' is neither FP32 nor INT64");
    t.dtype = *d;  // INT64: ArgMax/ArgMin's indices
    t.dims = o.value("shape", Dims{});
    int64_t n = 1;
    for (int64_t x : t.dims) {
      if (x < 0 || x > (int64_t{1} << 31)) bad_response("output '" + t.name + "' has a bad shape");
      n *= x;
      if (n > (int64_t{1} << 31)) bad_response("output '" + t.name + "' is too large");
    }
    if (o.contains("parameters") && o["parameters"].contains("binary_data_size")) {
      uint64_t size = o["parameters"].value("binary_data_size", uint64_t{0});
      if (size != static_cast<uint64_t>(n) * dtype_size(t.dtype) || binary.size() - used < size)
        bad_response("output '" + t.name + "' binary size");
      t.bytes.assign(binary.begin() + static_cast<ptrdiff_t>(used),
                     binary.begin() + static_cast<ptrdiff_t>(used + size));
      used += size;
    } else {
      if (!o.contains("data") || !o["data"].is_array()) bad_response("output '" + t.name + "' has no data");
      if (static_cast<int64_t>(o["data"].size()) != n) bad_response("output '" + t.name + "' data count");
      if (t.dtype == DType::kI64) {
        std::vector<int64_t> values;
        for (const json& v : o["data"]) {
          if (!v.is_number_integer()) bad_response("output '" + t.name + "' holds a non-integer");
          values.push_back(v.get<int64_t>());
        }
        t = Tensor::i64(t.name, t.dims, values);
      } else {
        std::vector<float> values;
        for (const json& v : o["data"]) values.push_back(v.is_number() ? v.get<float>() : NAN);
        t = Tensor::f32(t.name, t.dims, values);
      }
    }
    r.outputs.push_back(std::move(t));
  }
  return r;
}

InferResult OipClient::infer(const std::string& model, const std::vector<Tensor>& inputs, const InferOptions& options) {
  std::optional<uint64_t> json_length;
  std::string body = request_body(inputs, options, json_length);
  if (attested_) return infer_encrypted("/v2/models/" + model + "/infer", body, json_length);
  httplib::Headers headers;
  if (json_length) headers.emplace("Inference-Header-Content-Length", std::to_string(*json_length));
  auto r = http_->Post(("/v2/models/" + model + "/infer").c_str(), headers, body,
                       json_length ? "application/octet-stream" : "application/json");
  if (!r) throw Error(ErrorCode::kIo, "cannot reach " + url_ + " (" + httplib::to_string(r.error()) + ")");
  if (r->status != 200) checked_json(r, url_, "inference on model '" + model + "'");
  std::optional<uint64_t> response_length;
  if (r->has_header("Inference-Header-Content-Length")) try {
      response_length = parse_header_length(r->get_header_value("Inference-Header-Content-Length"));
    } catch (const RequestError&) {  // (the request decoder's error type: here it is the server's fault)
      bad_response("its Inference-Header-Content-Length is not a byte count");
    }
  return decode_response(r->body, response_length);
}

Verification OipClient::attest(const EvidencePolicy& policy) {
  Digest nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1)
    throw Error(ErrorCode::kKernel, "OpenSSL: no random bytes for a nonce");
  auto r = http_->Get(("/v2/attestation?nonce=" + to_hex(nonce.data(), nonce.size())).c_str());
  if (!r) throw Error(ErrorCode::kIo, "cannot reach " + url_ + " (" + httplib::to_string(r.error()) + ")");
  json doc = checked_json(r, url_, "the attestation");
  auto hex_of = [&](const json& j, const char* field, size_t max_bytes) {
    if (!j.is_object() || !j.contains(field) || !j[field].is_string() ||
        j[field].get_ref<const std::string&>().size() % 2 ||
        j[field].get_ref<const std::string&>().size() > 2 * max_bytes)
      bad_response(std::string("the attestation has no valid \"") + field + "\"");
    const std::string& h = j[field].get_ref<const std::string&>();
    return bytes_from_hex(h, h.size() / 2, std::string("the attestation's ") + field);
  };
  std::vector<uint8_t> evidence = hex_of(doc, "evidence", 64 * 1024);
  const json keys_json = doc.value("keys", json());
  auto hpke = hex_of(keys_json, "hpke", 32), receipt = hex_of(keys_json, "receipt", 64);
  if (hpke.size() != 32 || receipt.size() != 64) bad_response("the attestation's keys have the wrong sizes");
  EnclaveKeys keys;
  std::copy(hpke.begin(), hpke.end(), keys.hpke.begin());
  std::copy(receipt.begin(), receipt.end(), keys.receipt.begin());
  Verification v = verify_evidence(evidence, policy, keys, nonce);
  if (v.ok)
    attested_ = Attested{keys, v.claims.measurement};
  else
    attested_.reset();
  return v;
}

InferResult OipClient::infer_encrypted(const std::string& path, const std::string& body,
                                       std::optional<uint64_t> json_length) {
  EncryptedRequest request(attested_->keys, attested_->measurement, path, body, json_length);
  httplib::Headers headers = {{"Teeinfer-Encapsulated-Key", request.encapsulated_key_hex()}};
  const std::vector<uint8_t>& sealed = request.body();
  auto r = http_->Post(path.c_str(), headers, reinterpret_cast<const char*>(sealed.data()), sealed.size(),
                       "application/octet-stream");
  if (!r) throw Error(ErrorCode::kIo, "cannot reach " + url_ + " (" + httplib::to_string(r.error()) + ")");
  if (r->get_header_value("Teeinfer-Encrypted") != "1") {
    if (r->status == 200) throw Error(ErrorCode::kTampered, "the server answered an encrypted request in plaintext");
    checked_json(r, url_, "the encrypted request");  // a refusal before the enclave opened it
    bad_response("an error status with no error");
  }
  EncryptedRequest::Response opened = request.open_response(r->body, r->status);
  if (r->status != 200) {
    json err = json::parse(opened.body, nullptr, false);
    std::string message = err.is_object() && err.contains("error") && err["error"].is_string()
                              ? err["error"].get<std::string>()
                              : "(no message)";
    throw Error(ErrorCode::kBadInput,
                "the enclave refused the request (" + std::to_string(r->status) + "): " + message);
  }
  InferResult result = decode_response(opened.body, opened.json_length);
  result.receipt = opened.receipt;
  return result;
}

EvidencePolicy parse_client_policy(const std::string& json_text, const std::string& source) {
  auto bad = [&](const std::string& why) { return Error(ErrorCode::kBadArgument, source + ": " + why); };
  json doc = json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) throw bad("not a JSON object");
  EvidencePolicy p;
  auto digests = [&](const json& v, const std::string& field, std::vector<Digest>& out) {
    if (!v.is_array()) throw bad(field + " must be an array of 64-hex-digit values");
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) throw bad(field + "[" + std::to_string(i) + "] must be a string");
      auto b = bytes_from_hex(v[i].get<std::string>(), 32, source + ": " + field + "[" + std::to_string(i) + "]");
      Digest d{};
      std::copy(b.begin(), b.end(), d.begin());
      out.push_back(d);
    }
  };
  for (auto& [key, v] : doc.items()) {
    if (key == "measurements") {
      digests(v, key, p.measurements);
    } else if (key == "signers") {
      digests(v, key, p.signers);
    } else if (key == "min_security_version") {
      if (!v.is_number_unsigned() || v.get<uint64_t>() > 65535) throw bad(key + " must be a whole number up to 65535");
      p.min_security_version = static_cast<uint16_t>(v.get<uint64_t>());
    } else if (key == "allow_simulated" || key == "allow_debug") {
      if (!v.is_boolean()) throw bad(key + " must be true or false");
      (key == "allow_simulated" ? p.allow_simulated : p.allow_debug) = v.get<bool>();
    } else {
      throw bad("unknown field '" + key +
                "' (known: measurements, signers, min_security_version, allow_simulated, allow_debug)");
    }
  }
  return p;
}

EvidencePolicy read_client_policy(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorCode::kIo, path + ": cannot read the policy (" + ec.message() + ")");
  if (size > (1u << 20)) throw Error(ErrorCode::kBadArgument, path + ": a policy over 1 MiB");
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return parse_client_policy(text, path);
}

}  // namespace teeinfer::serve
