#include "host/pruning/layer_costs.h"

#include <limits>

namespace teeinfer {

namespace {

// Products saturate at INT64_MAX: a model's sizes are bounded one tensor at a time, but a
// layer's multiply-accumulates are a product of two such sizes.
int64_t times(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<int64_t>::max() : r;
}

int64_t product(const Dims& d, size_t from = 0) {
  int64_t p = 1;
  for (size_t i = from; i < d.size(); ++i) p = times(p, d[i]);
  return p;
}

int64_t macs(const Graph& g, const Node& n) {
  const Dims& y = g.value(n.outputs[0]).dims;
  switch (n.op) {
    case OpKind::kConv: {  // each output element: (IC / groups) * kernel MACs
      const Dims& w = g.value(n.inputs[1]).dims;
      return times(product(y), product(w, 1));
    }
    case OpKind::kGemm: {
      const auto& p = std::get<GemmParams>(n.params);
      const Dims& a = g.value(n.inputs[0]).dims;
      return times(product(y), p.trans_a ? a[0] : a[1]);
    }
    case OpKind::kMatMul: {
      const Dims& a = g.value(n.inputs[0]).dims;
      return times(product(y), a.empty() ? 1 : a.back());
    }
    default:
      return 0;
  }
}

}  // namespace

std::vector<LayerCost> layer_costs(const Graph& g) {
  std::vector<LayerCost> out;
  for (const Node& n : g.nodes) {
    LayerCost c{n.name, n.onnx_op, 0, times(2, macs(g, n))};
    for (ValueId v : n.inputs)
      if (v != kNoValue && g.value(v).is_constant)
        c.params += product(g.value(v).dims);  // constants hold their bytes: small
    if (c.params || c.flops) out.push_back(c);
  }
  return out;
}

}  // namespace teeinfer
