// libFuzzer target for the server's request decoder (src/protocol/oip_codec.cpp): an Open
// Inference Protocol infer body against three model signatures. The first input byte picks
// the signature and whether the body uses the binary tensor extension (the next two bytes
// are then its Inference-Header-Content-Length); the rest is the body. A RequestError is a
// clean refusal; a decoded request must hold exactly what its signature allows, and its
// response must encode.
#include <cstdint>
#include <string_view>

#include "protocol/oip_codec.h"

using namespace teeinfer;
using namespace teeinfer::serve;

namespace {

RequestSignature signature(int which) {
  RequestSignature s;
  if (which == 0) {  // an image classifier that batches up to 8
    s.inputs = {{"image", DType::kF32, {-1, 1, 4, 4}}};
    s.outputs = {"logits"};
    s.max_batch = 8;
  } else if (which == 1) {  // a stateful model with typed inputs
    s.inputs = {{"audio", DType::kF32, {1, 16}}, {"sr", DType::kI64, {1}}, {"flag", DType::kBool, {2}},
                {"ids", DType::kI32, {1, -1}},   {"pix", DType::kU8, {3}}, {"q", DType::kS8, {2}}};
    s.outputs = {"out", "state"};
  } else {  // dynamic dims, no batching
    s.inputs = {{"x", DType::kF32, {-1, -1}}};
    s.outputs = {"y"};
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  int which = data[0] % 3;
  bool binary = data[0] & 4;
  std::optional<uint64_t> json_length;
  if (binary) json_length = data[1] | (uint64_t{data[2]} << 8);
  std::string_view body(reinterpret_cast<const char*>(data + 3), size - 3);
  RequestSignature sig = signature(which);
  RequestLimits limits;
  limits.max_elements = 1 << 16;
  try {
    InferRequest r = decode_infer_request(body, json_length, sig, limits);
    if (r.inputs.size() != sig.inputs.size()) __builtin_trap();
    for (size_t i = 0; i < r.inputs.size(); ++i) {
      const Tensor& t = r.inputs[i];
      if (t.name != sig.inputs[i].name || t.dtype != sig.inputs[i].dtype) __builtin_trap();
      if (t.bytes.size() != static_cast<size_t>(t.elements()) * dtype_size(t.dtype)) __builtin_trap();
      if (t.elements() > static_cast<int64_t>(limits.max_elements)) __builtin_trap();
    }
    if (r.batch < 1 || r.batch > sig.max_batch) __builtin_trap();
    std::vector<Tensor> outputs;
    for (const std::string& o : sig.outputs) outputs.push_back(Tensor::f32(o, {1, 2}, {0.5f, -1.0f}));
    encode_infer_response("m", "1", r.id, r, outputs);
  } catch (const RequestError& e) {
    if (e.status() < 400 || e.status() > 499) __builtin_trap();
  }
  return 0;
}
