#include "protocol/oip_codec.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

namespace teeinfer::serve {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& message) {
  throw RequestError(400, message);
}

// nlohmann's parser keeps its own stack, but values nested thousands deep still cost
// memory and recursion when flattened: refuse them before parsing (brackets outside
// strings counted).
void check_nesting(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) bad("request JSON nests deeper than " + std::to_string(max_depth) + " levels");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

const json* member(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string string_field(const json& object, const char* key, const std::string& where) {
  const json* v = member(object, key);
  if (!v) bad(where + ": '" + key + "' is missing");
  if (!v->is_string()) bad(where + "." + key + " must be a string");
  return v->get<std::string>();
}

// A parameters object: string, number or boolean values only (the protocol's rule).
const json* parameters_of(const json& object, const std::string& where) {
  const json* p = member(object, "parameters");
  if (!p) return nullptr;
  if (!p->is_object()) bad(where + ".parameters must be an object");
  for (auto it = p->begin(); it != p->end(); ++it)
    if (!it->is_string() && !it->is_number() && !it->is_boolean())
      bad(where + ".parameters." + it.key() + " must be a string, number or boolean");
  return p;
}

std::optional<bool> bool_parameter(const json* params, const char* key, const std::string& where) {
  if (!params) return std::nullopt;
  const json* v = member(*params, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) bad(where + ".parameters." + key + " must be a boolean");
  return v->get<bool>();
}

std::optional<uint64_t> size_parameter(const json* params, const char* key, const std::string& where) {
  if (!params) return std::nullopt;
  const json* v = member(*params, key);
  if (!v) return std::nullopt;
  if (!v->is_number_unsigned()) bad(where + ".parameters." + key + " must be a non-negative integer");
  return v->get<uint64_t>();
}

Dims shape_of(const json& input, const std::string& where, const RequestLimits& limits) {
  const json* s = member(input, "shape");
  if (!s) bad(where + ": 'shape' is missing");
  if (!s->is_array()) bad(where + ".shape must be an array of integers");
  if (s->size() > 8) bad(where + ".shape has " + std::to_string(s->size()) + " dims (at most 8)");
  Dims dims;
  uint64_t count = 1;
  for (const json& d : *s) {
    if (!d.is_number_unsigned()) bad(where + ".shape must hold non-negative integers");
    uint64_t v = d.get<uint64_t>();
    if (v > limits.max_elements) bad(where + ".shape has a dim of " + std::to_string(v));
    count *= v;  // every factor <= 2^28 and the running product checked below: no overflow
    if (count > limits.max_elements)
      bad(where + ".shape holds more than " + std::to_string(limits.max_elements) + " elements");
    dims.push_back(static_cast<int64_t>(v));
  }
  return dims;
}

int64_t element_count(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// The JSON numbers of `data` (nested arrays or flat) appended to `out` as `t`, each checked
// to be representable.
void store_element(const json& v, DType t, uint8_t* dst, const std::string& where) {
  switch (t) {
    case DType::kF32: {
      if (!v.is_number()) bad(where + ".data must hold numbers for FP32");
      double d = v.get<double>();
      float f = static_cast<float>(d);
      if (std::isfinite(d) && !std::isfinite(f)) bad(where + ".data holds " + v.dump() + ", out of FP32's range");
      std::memcpy(dst, &f, 4);
      return;
    }
    case DType::kBool: {
      if (!v.is_boolean()) bad(where + ".data must hold true/false for BOOL");
      *dst = v.get<bool>() ? 1 : 0;
      return;
    }
    case DType::kI64:
    case DType::kI32:
    case DType::kU8:
    case DType::kS8: {
      if (!v.is_number_integer()) bad(where + ".data must hold integers for " + oip_datatype(t));
      int64_t lo = t == DType::kI64   ? std::numeric_limits<int64_t>::min()
                   : t == DType::kI32 ? std::numeric_limits<int32_t>::min()
                   : t == DType::kU8  ? 0
                                      : -128;
      int64_t hi = t == DType::kI64   ? std::numeric_limits<int64_t>::max()
                   : t == DType::kI32 ? std::numeric_limits<int32_t>::max()
                   : t == DType::kU8  ? 255
                                      : 127;
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
        bad(where + ".data holds " + v.dump() + ", out of " + oip_datatype(t) + "'s range");
      int64_t x = v.is_number_unsigned() ? static_cast<int64_t>(v.get<uint64_t>()) : v.get<int64_t>();
      if (x < lo || x > hi) bad(where + ".data holds " + v.dump() + ", out of " + oip_datatype(t) + "'s range");
      if (t == DType::kI64)
        std::memcpy(dst, &x, 8);
      else if (t == DType::kI32) {
        int32_t y = static_cast<int32_t>(x);
        std::memcpy(dst, &y, 4);
      } else {
        *dst = static_cast<uint8_t>(x);
      }
      return;
    }
  }
}

void flatten(const json& data, DType t, std::vector<uint8_t>& out, size_t& n, size_t expected,
             const std::string& where) {
  if (data.is_array()) {
    for (const json& v : data) flatten(v, t, out, n, expected, where);
    return;
  }
  if (n == expected) bad(where + ".data holds more than the " + std::to_string(expected) + " elements its shape says");
  store_element(data, t, out.data() + n * dtype_size(t), where);
  ++n;
}

const TensorInfo* find_input(const RequestSignature& model, const std::string& name) {
  for (const TensorInfo& in : model.inputs)
    if (in.name == name) return &in;
  return nullptr;
}

std::string names_of(const std::vector<TensorInfo>& tensors) {
  std::string s;
  for (const TensorInfo& t : tensors) s += (s.empty() ? "'" : ", '") + t.name + "'";
  return s;
}

// The request's dims against the model's: same rank, equal where the model fixes a dim,
// dim 0 free up to max_batch when the model batches.
void check_dims(const Dims& got, const TensorInfo& want, const RequestSignature& model, const std::string& where) {
  auto expected = [&] {
    std::string s = "[";
    for (size_t i = 0; i < want.dims.size(); ++i) {
      s += i ? "," : "";
      s += (i == 0 && model.max_batch > 1) || want.dims[i] < 0 ? "-1" : std::to_string(want.dims[i]);
    }
    return s + "]";
  };
  if (got.size() != want.dims.size())
    bad(where + ".shape has " + std::to_string(got.size()) + " dims; the model's input '" + want.name + "' takes " +
        expected());
  for (size_t i = 0; i < got.size(); ++i) {
    bool batch_dim = i == 0 && model.max_batch > 1;
    if (batch_dim) {
      if (got[0] < 1 || got[0] > model.max_batch)
        bad(where + ".shape[0] is a batch of " + std::to_string(got[0]) + "; this model takes 1 to " +
            std::to_string(model.max_batch));
    } else if (want.dims[i] >= 0 && got[i] != want.dims[i]) {
      bad(where + ".shape is " + to_string(got) + "; the model's input '" + want.name + "' takes " + expected());
    } else if (got[i] < 1) {
      bad(where + ".shape has an empty dim");
    }
  }
}

}  // namespace

const char* oip_datatype(DType t) {
  switch (t) {
    case DType::kF32:
      return "FP32";
    case DType::kI64:
      return "INT64";
    case DType::kI32:
      return "INT32";
    case DType::kU8:
      return "UINT8";
    case DType::kS8:
      return "INT8";
    case DType::kBool:
      return "BOOL";
  }
  return "?";
}

std::optional<DType> dtype_of_oip(std::string_view datatype) {
  for (DType t : {DType::kF32, DType::kI64, DType::kI32, DType::kU8, DType::kS8, DType::kBool})
    if (datatype == oip_datatype(t)) return t;
  return std::nullopt;
}

uint64_t parse_header_length(std::string_view value) {
  if (value.empty() || value.size() > 19) bad("Inference-Header-Content-Length must be a decimal byte count");
  uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') bad("Inference-Header-Content-Length must be a decimal byte count");
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

InferRequest decode_infer_request(std::string_view body, std::optional<uint64_t> json_length,
                                  const RequestSignature& model, const RequestLimits& limits) {
  if (json_length && *json_length > body.size())
    bad("Inference-Header-Content-Length is " + std::to_string(*json_length) + " but the body has only " +
        std::to_string(body.size()) + " bytes");
  std::string_view header = json_length ? body.substr(0, *json_length) : body;
  std::string_view binary = json_length ? body.substr(*json_length) : std::string_view{};
  check_nesting(header, limits.max_json_depth);
  json doc = json::parse(header.begin(), header.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) bad("the request body is not valid JSON");
  if (!doc.is_object()) bad("the request body must be a JSON object");

  InferRequest req;
  if (const json* id = member(doc, "id")) {
    if (!id->is_string()) bad("id must be a string");
    req.id = id->get<std::string>();
  }
  const json* params = parameters_of(doc, "request");
  if (params) {
    if (const json* t = member(*params, "timeout_ms")) {
      if (!t->is_number_unsigned() || t->get<uint64_t>() > 86'400'000)
        bad("parameters.timeout_ms must be an integer from 0 to 86400000");
      req.timeout_ms = t->get<int64_t>();
    }
  }
  bool all_binary = bool_parameter(params, "binary_data_output", "request").value_or(false);

  const json* inputs = member(doc, "inputs");
  if (!inputs || !inputs->is_array()) bad("'inputs' must be an array of tensors");
  std::vector<std::optional<Tensor>> by_position(model.inputs.size());
  size_t binary_used = 0;
  for (size_t k = 0; k < inputs->size(); ++k) {
    const json& in = (*inputs)[k];
    std::string where = "inputs[" + std::to_string(k) + "]";
    if (!in.is_object()) bad(where + " must be an object");
    std::string name = string_field(in, "name", where);
    where = "input '" + name + "'";
    const TensorInfo* info = find_input(model, name);
    if (!info) bad(where + ": the model has no such input (its inputs: " + names_of(model.inputs) + ")");
    size_t position = static_cast<size_t>(info - model.inputs.data());
    if (by_position[position]) bad(where + " is given twice");
    std::string datatype = string_field(in, "datatype", where);
    std::optional<DType> dtype = dtype_of_oip(datatype);
    if (!dtype || *dtype != info->dtype)
      bad(where + ".datatype is '" + datatype + "'; the model takes " + oip_datatype(info->dtype));
    Dims dims = shape_of(in, where, limits);
    check_dims(dims, *info, model, where);
    size_t count = static_cast<size_t>(element_count(dims));
    size_t bytes = count * dtype_size(*dtype);

    Tensor t;
    t.name = name;
    t.dtype = *dtype;
    t.dims = dims;
    const json* in_params = parameters_of(in, where);
    std::optional<uint64_t> binary_size = size_parameter(in_params, "binary_data_size", where);
    const json* data = member(in, "data");
    if (binary_size) {
      if (data) bad(where + " has both 'data' and parameters.binary_data_size");
      if (*binary_size != bytes)
        bad(where + ".parameters.binary_data_size is " + std::to_string(*binary_size) +
            "; its shape and datatype need " + std::to_string(bytes) + " bytes");
      if (binary.size() - binary_used < bytes)
        bad(where + ": the binary data ends before its " + std::to_string(bytes) + " bytes");
      std::string_view part = binary.substr(binary_used, bytes);
      binary_used += bytes;
      t.bytes.assign(part.begin(), part.end());
      if (*dtype == DType::kBool)
        for (uint8_t b : t.bytes)
          if (b > 1) bad(where + ": BOOL binary data must be bytes 0 or 1");
    } else {
      if (!data) bad(where + ": 'data' is missing (or give parameters.binary_data_size)");
      // Each JSON element takes at least two bytes ("0,"): a shape larger than the JSON
      // could hold is refused before its tensor is allocated.
      if (count > header.size() / 2 + 1)
        bad(where + ".shape " + to_string(dims) + " holds " + std::to_string(count) +
            " elements, more than its data can");
      t.bytes.assign(bytes, 0);
      size_t n = 0;
      flatten(*data, *dtype, t.bytes, n, count, where);
      if (n != count)
        bad(where + ".data holds " + std::to_string(n) + " elements; its shape " + to_string(dims) + " has " +
            std::to_string(count));
    }
    by_position[position] = std::move(t);
  }
  if (binary_used != binary.size())
    bad("the body holds " + std::to_string(binary.size() - binary_used) + " bytes of binary data no input claims");
  for (size_t i = 0; i < by_position.size(); ++i) {
    if (!by_position[i]) bad("input '" + model.inputs[i].name + "' is missing");
    req.inputs.push_back(std::move(*by_position[i]));
  }
  if (model.max_batch > 1) {
    req.batch = req.inputs.empty() ? 1 : req.inputs[0].dims[0];
    for (const Tensor& t : req.inputs)
      if (t.dims[0] != req.batch)
        bad("input '" + t.name + "' has a batch of " + std::to_string(t.dims[0]) + ", input '" + req.inputs[0].name +
            "' one of " + std::to_string(req.batch));
  }

  std::map<std::string, bool> wanted;  // name -> binary
  if (const json* outputs = member(doc, "outputs")) {
    if (!outputs->is_array()) bad("'outputs' must be an array");
    for (size_t k = 0; k < outputs->size(); ++k) {
      const json& out = (*outputs)[k];
      std::string where = "outputs[" + std::to_string(k) + "]";
      if (!out.is_object()) bad(where + " must be an object");
      std::string name = string_field(out, "name", where);
      where = "output '" + name + "'";
      bool known = false;
      for (const std::string& o : model.outputs) known |= o == name;
      if (!known) bad(where + ": the model has no such output");
      if (wanted.count(name)) bad(where + " is requested twice");
      wanted[name] = bool_parameter(parameters_of(out, where), "binary_data", where).value_or(all_binary);
    }
  } else {
    for (const std::string& o : model.outputs) wanted[o] = all_binary;
  }
  for (const std::string& o : model.outputs) {
    auto it = wanted.find(o);
    if (it == wanted.end()) continue;
    req.outputs.push_back(o);
    req.binary_output.push_back(it->second);
  }
  return req;
}

EncodedResponse encode_infer_response(const std::string& model_name, const std::string& model_version,
                                      const std::optional<std::string>& id, const InferRequest& request,
                                      const std::vector<Tensor>& outputs) {
  json doc = {{"model_name", model_name}, {"model_version", model_version}};
  if (id) doc["id"] = *id;
  json outs = json::array();
  std::string binary;
  for (size_t k = 0; k < request.outputs.size(); ++k) {
    const Tensor* t = nullptr;
    for (const Tensor& o : outputs)
      if (o.name == request.outputs[k]) t = &o;
    if (!t) throw Error(ErrorCode::kBadModel, "the model gave no output '" + request.outputs[k] + "'");
    json o = {{"name", t->name}, {"datatype", oip_datatype(t->dtype)}, {"shape", t->dims}};
    if (request.binary_output[k]) {
      o["parameters"] = {{"binary_data_size", t->bytes.size()}};
      binary.append(reinterpret_cast<const char*>(t->bytes.data()), t->bytes.size());
    } else if (t->dtype == DType::kI64) {  // ArgMax's indices
      std::vector<int64_t> values(static_cast<size_t>(t->elements()));
      std::memcpy(values.data(), t->data(), values.size() * sizeof(int64_t));
      o["data"] = values;
      OPENSSL_cleanse(values.data(), values.size() * sizeof(int64_t));
    } else {
      std::vector<float> values = t->to_floats();
      o["data"] = values;
      OPENSSL_cleanse(values.data(), values.size() * sizeof(float));  // (outputs may be secret: see below)
    }
    outs.push_back(std::move(o));
  }
  doc["outputs"] = std::move(outs);
  EncodedResponse r;
  r.body = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  if (!binary.empty() || std::count(request.binary_output.begin(), request.binary_output.end(), true) > 0) {
    r.json_length = r.body.size();
    r.body += binary;
  }
  // Outputs of an end-to-end encrypted request are plaintext only inside Enclave::answer,
  // which wipes what it holds: no copy may outlive this call in freed memory.
  OPENSSL_cleanse(binary.data(), binary.size());
  return r;
}

std::string error_body(const std::string& message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace teeinfer::serve
