#include "host/pruning/layer_costs.h"

#include <iterator>
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

// Multiply-accumulates of each op (the mac_count column of common/ops.def).
int64_t conv_macs(const Graph& g, const Node& n) {  // each output element: (IC / groups) * kernel
  const Dims& w = g.value(n.inputs[1]).dims;
  return times(product(g.value(n.outputs[0]).dims), product(w, 1));
}

int64_t conv_transpose_macs(const Graph& g, const Node& n) {  // each input element: (OC / groups) * kernel
  const Dims& w = g.value(n.inputs[1]).dims;
  return times(product(g.value(n.inputs[0]).dims), product(w, 1));
}

// Each step: X_t (T*N rows) times W^T and h times R^T (N rows), G*H columns each.
int64_t recurrent_macs(const Graph& g, const Node& n) {
  const Dims& x = g.value(n.inputs[0]).dims;
  const Dims& w = g.value(n.inputs[1]).dims;
  const Dims& r = g.value(n.inputs[2]).dims;
  int64_t weights;
  if (__builtin_add_overflow(product(w), product(r), &weights)) return std::numeric_limits<int64_t>::max();
  return times(times(x[0], x[1]), weights);
}

int64_t gemm_macs(const Graph& g, const Node& n) {
  const auto& p = std::get<GemmParams>(n.params);
  const Dims& a = g.value(n.inputs[0]).dims;
  return times(product(g.value(n.outputs[0]).dims), p.trans_a ? a[0] : a[1]);
}

int64_t matmul_macs(const Graph& g, const Node& n) {
  const Dims& a = g.value(n.inputs[0]).dims;
  return times(product(g.value(n.outputs[0]).dims), a.empty() ? 1 : a.back());
}

int64_t no_macs(const Graph&, const Node&) {
  return 0;
}

using MacCount = int64_t (*)(const Graph&, const Node&);
constexpr MacCount kMacCounts[] = {
#define TEEINFER_OP(kind, name, Params, shape_function, lowering_function, mac_count) &mac_count,
#include "common/ops.def"
};
static_assert(std::size(kMacCounts) == kOpCount);

int64_t macs(const Graph& g, const Node& n) {
  check_op_params(n);
  return kMacCounts[static_cast<size_t>(n.op)](g, n);
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
