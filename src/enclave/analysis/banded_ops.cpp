#include "enclave/analysis/banded_ops.h"

#include <algorithm>

#include "common/eltwise_ops.h"
#include "enclave/analysis/row_windows.h"
#include "enclave/op_lowering/resize_taps.h"

namespace teeinfer {

namespace {

bool is_4d(const Graph& g, ValueId v) {
  return g.value(v).dims.size() == 4;
}

}  // namespace

bool broadcasts_over_rows(const Graph& g, const Node& n, size_t i) {
  const Dims& y = g.value(n.outputs[0]).dims;
  Dims d = g.value(n.inputs[i]).dims;
  if (y.size() != 4 || d.size() > 4) return false;
  d.insert(d.begin(), 4 - d.size(), 1);  // numpy broadcasting aligns dims on the right
  return d[0] == 1 && (d[1] == 1 || d[1] == y[1]) && d[2] == 1 && d[3] == 1;
}

bool is_row_aligned(const Graph& g, const Node& n) {
  const Dims& y = g.value(n.outputs[0]).dims;
  if (y.size() != 4) return false;
  if (n.op == OpKind::kConcat) {
    const auto& p = std::get<ConcatParams>(n.params);
    return p.axis == 1 && !p.fused_batchnorm &&
           std::all_of(n.inputs.begin(), n.inputs.end(), [&](ValueId v) { return !g.value(v).is_constant; });
  }
  if (n.op == OpKind::kBinary) {
    // Pow is the one kind without a oneDNN binary algorithm (op_lowering/binary.cpp).
    if (std::get<BinaryParams>(n.params).kind == BinaryKind::kPow || n.inputs.size() != 2) return false;
    const Value& a = g.value(n.inputs[0]);
    return !a.is_constant && a.dims == y &&
           ((!g.value(n.inputs[1]).is_constant && g.value(n.inputs[1]).dims == y) || broadcasts_over_rows(g, n, 1));
  }
  if (n.op == OpKind::kEltwise)  // the functions oneDNN computes (the others run over the whole plain tensor)
    return eltwise_fusible(std::get<EltwiseParams>(n.params).kind) && !g.value(n.inputs[0]).is_constant &&
           g.value(n.inputs[0]).dims == y;
  return false;
}

bool is_banded_resize(const Graph& g, const Node& n) {
  if (n.op != OpKind::kResize || !is_4d(g, n.inputs[0])) return false;
  const auto& p = std::get<ResizeParams>(n.params);
  const Dims &x = g.value(n.inputs[0]).dims, &y = g.value(n.outputs[0]).dims;
  if (y.size() != 4 || x[0] != y[0] || x[1] != y[1] || p.scales.size() != 4 ||
      (p.coordinates == ResizeCoordinates::kTfCropAndResize && p.roi.size() != 8))
    return false;
  // Same dims are not enough: at scale 1 some transformations still move the samples
  // (tf_half_pixel_for_nn samples at o + 0.5, so linear and cubic interpolate between
  // channels), and tf_crop_and_resize may crop N or C. The taps say.
  return is_identity(dim_taps(p, 0, x[0], y[0]), x[0]) && is_identity(dim_taps(p, 1, x[1], y[1]), x[1]);
}

bool is_banded_reduce(const Graph& g, const Node& n) {
  if (n.op != OpKind::kReduce || !is_4d(g, n.inputs[0]) || g.value(n.inputs[0]).is_constant) return false;
  const auto& p = std::get<ReduceParams>(n.params);
  return (p.kind == ReduceKind::kMax || p.kind == ReduceKind::kMin) && p.axes == Dims{0, 1, 2, 3};
}

bool can_run_in_bands(const Graph& g, const Node& n) {
  return runs_in_bands(g, n) || is_row_aligned(g, n) || is_banded_resize(g, n);
}

bool reads_in_bands(const Graph& g, const Node& n, size_t i) {
  if (is_row_aligned(g, n)) return n.op != OpKind::kBinary || !broadcasts_over_rows(g, n, i);
  if (is_banded_resize(g, n) || is_banded_reduce(g, n)) return i == 0;
  return runs_in_bands(g, n) &&
         (i == 0 || (i == 3 && n.op == OpKind::kConv && std::get<ConvParams>(n.params).fused_sum));
}

}  // namespace teeinfer
