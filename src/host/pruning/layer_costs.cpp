#include "host/pruning/layer_costs.h"

namespace teeinfer {

namespace {

int64_t product(const Dims& d, size_t from = 0) {
  int64_t p = 1;
  for (size_t i = from; i < d.size(); ++i) p *= d[i];
  return p;
}

int64_t macs(const Graph& g, const Node& n) {
  const Dims& y = g.value(n.outputs[0]).dims;
  switch (n.op) {
    case OpKind::kConv: {  // each output element: (IC / groups) * kernel MACs
      const Dims& w = g.value(n.inputs[1]).dims;
      return product(y) * product(w, 1);
    }
    case OpKind::kGemm: {
      const auto& p = std::get<GemmParams>(n.params);
      const Dims& a = g.value(n.inputs[0]).dims;
      return product(y) * (p.trans_a ? a[0] : a[1]);
    }
    case OpKind::kMatMul: {
      const Dims& a = g.value(n.inputs[0]).dims;
      return product(y) * (a.empty() ? 1 : a.back());
    }
    default:
      return 0;
  }
}

}  // namespace

std::vector<LayerCost> layer_costs(const Graph& g) {
  std::vector<LayerCost> out;
  for (const Node& n : g.nodes) {
    LayerCost c{n.name, n.onnx_op, 0, 2 * macs(g, n)};
    for (ValueId v : n.inputs)
      if (v != kNoValue && g.value(v).is_constant) c.params += product(g.value(v).dims);
    if (c.params || c.flops) out.push_back(c);
  }
  return out;
}

}  // namespace teeinfer
