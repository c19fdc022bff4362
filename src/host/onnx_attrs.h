// Typed access to an ONNX node's attributes, with defaults and clear errors.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "common/tensor.h"

namespace teeinfer {

class OnnxAttrs {
 public:
  explicit OnnxAttrs(const onnx::NodeProto& node);

  bool has(const std::string& name) const;
  int64_t i(const std::string& name, int64_t fallback) const;
  float f(const std::string& name, float fallback) const;
  std::string s(const std::string& name, const std::string& fallback) const;
  Dims ints(const std::string& name, const Dims& fallback) const;
  std::vector<float> floats(const std::string& name) const;
  std::vector<std::string> strings(const std::string& name) const;  // empty when absent
  const onnx::TensorProto* tensor(const std::string& name) const;
  const onnx::GraphProto* graph(const std::string& name) const;  // a subgraph (If's branches)

  // "Conv node 'conv1'" for messages.
  std::string where() const;

 private:
  const onnx::AttributeProto* find(const std::string& name, int type) const;
  const onnx::NodeProto& node_;
};

}  // namespace teeinfer
