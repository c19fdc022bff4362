#include "random_graphs.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/shape_inference.h"

namespace teeinfer {

Value random_constant(const std::string& name, Dims dims, std::mt19937& rng) {
  Value v{name, DType::kF32, dims, true, {}};
  std::vector<float> f = random_floats(dims, rng);
  v.data.resize(f.size() * 4);
  std::memcpy(v.data.data(), f.data(), v.data.size());
  return v;
}

std::vector<float> random_floats(const Dims& dims, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> f(static_cast<size_t>(element_count(dims, "random")));
  for (float& x : f) x = u(rng);
  return f;
}

Graph chain_graph(std::mt19937& rng, int64_t* out_h) {
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  Graph g;
  int64_t c = pick(1, 6), h = pick(12, 40), w = pick(6, 20);
  ValueId x = g.add_value({"x", DType::kF32, {1, c, h, w}, false, {}});
  g.inputs.push_back(x);
  int layers = static_cast<int>(pick(2, 4));
  for (int i = 0; i < layers; ++i) {
    Node n;
    n.name = "layer" + std::to_string(i);
    n.inputs = {x};
    bool pool = i == layers - 1 && pick(0, 1);
    if (pool) {
      n.op = OpKind::kPool;
      n.onnx_op = "MaxPool";
      PoolParams p;
      p.kind = PoolKind::kMax;
      p.kernel = {2, 2};
      p.strides = {2, 2};
      p.dilations = {1, 1};
      p.pads_begin = p.pads_end = p.declared_pads_end = {0, 0};
      n.params = p;
    } else {
      n.op = OpKind::kConv;
      n.onnx_op = "Conv";
      ConvParams p;
      int64_t k = pick(1, 3) * 2 - 1;  // 1, 3, 5
      p.kernel = {k, k};
      p.strides = {pick(1, 2), 1};
      p.dilations = {1, 1};
      p.pads_begin = p.pads_end = {k / 2, k / 2};
      p.post_ops.push_back({EltwiseKind::kRelu, 0.f, 0.f});
      int64_t oc = pick(1, 8);
      n.inputs.push_back(g.add_value(random_constant("w" + std::to_string(i), {oc, c, k, k}, rng)));
      n.inputs.push_back(g.add_value(random_constant("b" + std::to_string(i), {oc}, rng)));
      n.params = p;
      c = oc;
    }
    Dims y = infer_output_dims(g, n);
    x = g.add_value({"y" + std::to_string(i), DType::kF32, y, false, {}});
    n.outputs = {x};
    g.nodes.push_back(n);
    *out_h = y[2];
  }
  g.outputs.push_back(x);
  return g;
}

Graph conv_chain_graph(int layers, int64_t channels, int64_t size, std::mt19937& rng) {
  Graph g;
  ValueId x = g.add_value({"x", DType::kF32, {1, channels, size, size}, false, {}});
  g.inputs.push_back(x);
  for (int i = 0; i < layers; ++i) {
    Node n;
    n.name = "conv" + std::to_string(i);
    n.op = OpKind::kConv;
    n.onnx_op = "Conv";
    ConvParams p;
    p.kernel = {3, 3};
    p.strides = p.dilations = {1, 1};
    p.pads_begin = p.pads_end = {1, 1};
    p.post_ops.push_back({EltwiseKind::kRelu, 0.f, 0.f});
    n.params = p;
    n.inputs = {x, g.add_value(random_constant("w" + std::to_string(i), {channels, channels, 3, 3}, rng)),
                g.add_value(random_constant("b" + std::to_string(i), {channels}, rng))};
    x = g.add_value({"y" + std::to_string(i), DType::kF32, infer_output_dims(g, n), false, {}});
    n.outputs = {x};
    g.nodes.push_back(std::move(n));
  }
  g.outputs.push_back(x);
  return g;
}

float max_relative_diff(const std::vector<float>& got, const std::vector<float>& want) {
  float worst = 0, scale = 1e-12f;
  for (float w : want) scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
  return got.size() == want.size() ? worst / scale : INFINITY;
}

}  // namespace teeinfer
