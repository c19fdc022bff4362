#include "host/onnx_attrs.h"

#include "common/error.h"

namespace teeinfer {

OnnxAttrs::OnnxAttrs(const onnx::NodeProto& node) : node_(node) {}

std::string OnnxAttrs::where() const {
  std::string name = node_.name();
  if (name.empty() && node_.output_size() > 0) name = node_.output(0);
  return node_.op_type() + " node '" + name + "'";
}

const onnx::AttributeProto* OnnxAttrs::find(const std::string& name, int type) const {
  for (const auto& a : node_.attribute()) {
    if (a.name() != name) continue;
    if (a.type() != type) throw Error(ErrorCode::kBadModel, where() + ": attribute '" + name + "' has the wrong type");
    return &a;
  }
  return nullptr;
}

bool OnnxAttrs::has(const std::string& name) const {
  for (const auto& a : node_.attribute())
    if (a.name() == name) return true;
  return false;
}

int64_t OnnxAttrs::i(const std::string& name, int64_t fallback) const {
  const auto* a = find(name, onnx::AttributeProto::INT);
  return a ? a->i() : fallback;
}

float OnnxAttrs::f(const std::string& name, float fallback) const {
  const auto* a = find(name, onnx::AttributeProto::FLOAT);
  return a ? a->f() : fallback;
}

std::string OnnxAttrs::s(const std::string& name, const std::string& fallback) const {
  const auto* a = find(name, onnx::AttributeProto::STRING);
  return a ? a->s() : fallback;
}

Dims OnnxAttrs::ints(const std::string& name, const Dims& fallback) const {
  const auto* a = find(name, onnx::AttributeProto::INTS);
  return a ? Dims(a->ints().begin(), a->ints().end()) : fallback;
}

std::vector<float> OnnxAttrs::floats(const std::string& name) const {
  const auto* a = find(name, onnx::AttributeProto::FLOATS);
  return a ? std::vector<float>(a->floats().begin(), a->floats().end()) : std::vector<float>{};
}

std::vector<std::string> OnnxAttrs::strings(const std::string& name) const {
  const auto* a = find(name, onnx::AttributeProto::STRINGS);
  return a ? std::vector<std::string>(a->strings().begin(), a->strings().end()) : std::vector<std::string>{};
}

const onnx::TensorProto* OnnxAttrs::tensor(const std::string& name) const {
  const auto* a = find(name, onnx::AttributeProto::TENSOR);
  return a ? &a->t() : nullptr;
}

const onnx::GraphProto* OnnxAttrs::graph(const std::string& name) const {
  const auto* a = find(name, onnx::AttributeProto::GRAPH);
  return a ? &a->g() : nullptr;
}

}  // namespace teeinfer
