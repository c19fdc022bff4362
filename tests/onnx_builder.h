// Builds small ONNX models in code (tests and seed writers): hostile ones included.
//
//   OnnxModelBuilder b(13);
//   b.input("x", {1, 1, 4, 4});
//   std::string w = b.constant<float>("w", {1, 1, 3, 3}, std::vector<float>(9, 0.1f));
//   b.node("Conv", {"x", w}, {"y"}).ints("pads", {1, 1, 1, 1});
//   b.output("y");
//   std::string bytes = b.bytes();
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace teeinfer::testing {

// Sets the attributes of one node; every setter returns *this for chaining.
class OnnxNodeBuilder {
 public:
  explicit OnnxNodeBuilder(onnx::NodeProto* node) : node_(node) {}
  OnnxNodeBuilder& i(const std::string& name, int64_t v);
  OnnxNodeBuilder& ints(const std::string& name, const std::vector<int64_t>& v);
  OnnxNodeBuilder& f(const std::string& name, float v);
  OnnxNodeBuilder& s(const std::string& name, const std::string& v);
  OnnxNodeBuilder& t(const std::string& name, const onnx::TensorProto& v);
  onnx::NodeProto* proto() { return node_; }

 private:
  onnx::AttributeProto* add(const std::string& name, onnx::AttributeProto::AttributeType type);
  onnx::NodeProto* node_;
};

// A TensorProto holding `raw` as raw_data (any bytes: the dims need not agree).
onnx::TensorProto tensor_proto(const std::string& name, int onnx_type, const std::vector<int64_t>& dims,
                               const std::string& raw);

template <class T>
std::string raw_bytes(const std::vector<T>& v) {
  std::string s(v.size() * sizeof(T), '\0');
  if (!v.empty()) std::memcpy(s.data(), v.data(), s.size());
  return s;
}

class OnnxModelBuilder {
 public:
  explicit OnnxModelBuilder(int opset = 13);
  // A graph input of `elem_type` (an onnx::TensorProto type) with these dims.
  void input(const std::string& name, const std::vector<int64_t>& dims, int elem_type = onnx::TensorProto::FLOAT);
  // A float graph output; with `dims`, its shape is declared too (the ONNX checker wants one).
  void output(const std::string& name, const std::vector<int64_t>& dims = {});
  // An initializer with raw bytes `raw` (which may disagree with the dims); returns its name.
  std::string initializer(const std::string& name, int onnx_type, const std::vector<int64_t>& dims,
                          const std::string& raw);
  template <class T>
  std::string constant(const std::string& name, const std::vector<int64_t>& dims, const std::vector<T>& v);
  OnnxNodeBuilder node(const std::string& op, const std::vector<std::string>& inputs,
                       const std::vector<std::string>& outputs);
  std::string bytes() const { return model.SerializeAsString(); }

  onnx::ModelProto model;
  onnx::GraphProto* graph;
};

template <class T>
constexpr int onnx_type_of() {
  if constexpr (std::is_same_v<T, float>)
    return onnx::TensorProto::FLOAT;
  else if constexpr (std::is_same_v<T, int64_t>)
    return onnx::TensorProto::INT64;
  else if constexpr (std::is_same_v<T, int32_t>)
    return onnx::TensorProto::INT32;
  else if constexpr (std::is_same_v<T, uint8_t>)
    return onnx::TensorProto::UINT8;
  else if constexpr (std::is_same_v<T, int8_t>)
    return onnx::TensorProto::INT8;
  else
    static_assert(sizeof(T) == 0, "no ONNX type for this C++ type");
}

template <class T>
std::string OnnxModelBuilder::constant(const std::string& name, const std::vector<int64_t>& dims,
                                       const std::vector<T>& v) {
  return initializer(name, onnx_type_of<T>(), dims, raw_bytes(v));
}

// A model that must be handled cleanly: rejected with an Error, or imported.
struct HostileModel {
  std::string name;   // a file name stem
  std::string bytes;  // the serialized model
  std::string input;  // the graph input's name
  std::vector<int64_t> input_dims;
  std::string expect;  // a substring of the error, or "" when any clean outcome is fine
};

// Models that crashed, over-read, overflowed or exhausted memory in teeinfer's ONNX path
// (issue 13), plus mutations of each; each small (a few KB at most).
std::vector<HostileModel> hostile_models();

// Small valid models using every op the importer runs or folds (fuzzing seeds).
std::vector<HostileModel> seed_models();

// Models made to exhaust the channel pruner: a Conv + BatchNorm unit whose channels pass
// through `levels` Concats of a tensor with itself (2^levels paths to trace), and one
// unit of `channels` channels with distinct BatchNorm scales (mean-shift on all of them).
HostileModel prune_fanout_model(int levels);
HostileModel prune_many_channels_model(int64_t channels);

// A chain of `layers` 3x3 Conv (+ Relu) layers with `channels` channels on a {1, channels,
// size, size} input "x" (output "y").
std::string conv_chain_model(int layers, int64_t channels, int64_t size);

}  // namespace teeinfer::testing
