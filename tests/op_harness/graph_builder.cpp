#include <cstring>

#include "common/shape_inference.h"
#include "op_harness/op_case.h"

namespace teeinfer::op_harness {

int64_t pick(std::mt19937& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

float uniform(std::mt19937& rng, float lo, float hi) {
  return std::uniform_real_distribution<float>(lo, hi)(rng);
}

bool chance(std::mt19937& rng, double p) {
  return std::bernoulli_distribution(p)(rng);
}

namespace {

std::vector<float> random_data(std::mt19937& rng, const Dims& dims, float lo, float hi) {
  std::vector<float> data(static_cast<size_t>(element_count(dims, "case data")));
  for (float& x : data) x = uniform(rng, lo, hi);
  return data;
}

}  // namespace

ValueId GraphBuilder::input(const std::string& name, const Dims& dims, float lo, float hi) {
  return input(name, dims, random_data(rng_, dims, lo, hi));
}

ValueId GraphBuilder::input(const std::string& name, const Dims& dims, std::vector<float> data) {
  ValueId v = c_.graph.add_value({name, DType::kF32, dims, false, {}});
  c_.graph.inputs.push_back(v);
  c_.inputs.push_back(std::move(data));
  return v;
}

ValueId GraphBuilder::typed_input(const std::string& name, DType dtype, const Dims& dims, std::vector<float> data) {
  ValueId v = input(name, dims, std::move(data));
  c_.graph.value(v).dtype = dtype;
  return v;
}

ValueId GraphBuilder::constant(const std::string& name, const Dims& dims, float lo, float hi) {
  return constant(name, dims, random_data(rng_, dims, lo, hi));
}

ValueId GraphBuilder::constant(const std::string& name, const Dims& dims, const std::vector<float>& values) {
  Value v{name, DType::kF32, dims, true, {}};
  v.data.resize(values.size() * sizeof(float));
  std::memcpy(v.data.data(), values.data(), v.data.size());
  return c_.graph.add_value(std::move(v));
}

ValueId GraphBuilder::node(OpKind op, const std::string& onnx_op, OpParams params, std::vector<ValueId> inputs,
                           const Dims& output_dims) {
  Node n;
  n.name = onnx_op + "_" + std::to_string(c_.graph.nodes.size());
  n.onnx_op = onnx_op;
  n.op = op;
  n.params = std::move(params);
  n.inputs = std::move(inputs);
  Dims y = output_dims;
  if (op == OpKind::kReshape) {  // shape inference reads the output's declared dims
    n.outputs = {c_.graph.add_value({n.name + ".y", DType::kF32, y, false, {}})};
    infer_output_dims(c_.graph, n);
  } else {
    y = infer_output_dims(c_.graph, n);
    n.outputs = {c_.graph.add_value({n.name + ".y", node_output_dtype(c_.graph, n), y, false, {}})};
  }
  c_.graph.nodes.push_back(std::move(n));
  return c_.graph.nodes.back().outputs[0];
}

}  // namespace teeinfer::op_harness
