#include "host/quantize_weights.h"

#include "common/quantize.h"

namespace teeinfer {
namespace {

// w (constant f32, rows = dim 0) -> int8 in place; returns the per-row scales.
std::vector<float> quantize_in_place(Value& w) {
  int64_t rows = w.dims[0];
  int64_t cols = static_cast<int64_t>(w.data.size() / sizeof(float)) / rows;
  QuantizedRows q = quantize_rows(reinterpret_cast<const float*>(w.data.data()), rows, cols);
  w.dtype = DType::kS8;
  w.data.assign(reinterpret_cast<const uint8_t*>(q.values.data()),
                reinterpret_cast<const uint8_t*>(q.values.data()) + q.values.size());
  return std::move(q.scales);
}

bool quantizable(const Value& w) {
  return w.is_constant && w.dtype == DType::kF32 && w.dims.size() >= 2 && w.dims[0] > 0 && !w.data.empty();
}

// The node's Int8Weights, when it is a Conv or a transB Gemm; nullptr otherwise.
Int8Weights* int8_slot(Node& n, QuantizeTarget target) {
  if (n.op == OpKind::kConv) return target == QuantizeTarget::kAll ? int8_params_of(n) : nullptr;
  if (n.op != OpKind::kGemm) return nullptr;
  auto& p = std::get<GemmParams>(n.params);
  // The int8 kernel adds C as a bias: a constant prescaled C, or none.
  bool bias_only = n.inputs.size() < 3 || n.inputs[2] == kNoValue || p.beta == 0.f || p.c_prescaled;
  if (p.trans_b && bias_only) return &p.int8;
  return nullptr;
}

}  // namespace

QuantizeCounts quantize_weights(Graph& g, QuantizeTarget target) {
  QuantizeCounts counts;
  std::vector<int> readers(g.values.size(), 0);
  for (const Node& n : g.nodes)
    for (ValueId v : n.inputs)
      if (v != kNoValue) ++readers[v];
  for (Node& n : g.nodes) {
    Int8Weights* q = int8_slot(n, target);
    if (!q || q->active() || n.inputs.size() < 2 || n.inputs[1] == kNoValue) continue;
    Value& w = g.value(n.inputs[1]);
    // A weight another node also reads keeps its float32 bytes for that reader.
    if (!quantizable(w) || readers[n.inputs[1]] != 1 || (n.op == OpKind::kGemm && w.dims.size() != 2)) continue;
    q->weight_scales = quantize_in_place(w);
    ++(n.op == OpKind::kConv ? counts.conv : counts.fully_connected);
  }
  return counts;
}

int set_input_scales(Graph& g, const std::map<ValueId, ValueRange>& ranges) {
  int full = 0;
  for (Node& n : g.nodes) {
    if (!int8_weights_of(n)) continue;
    Int8Weights* q = int8_params_of(n);
    auto it = ranges.find(n.inputs[0]);
    // A negative input would need s8 activations (and oneDNN's weight compensation); such
    // nodes (typically the first conv, on a normalised image) stay weight-only.
    if (it == ranges.end() || it->second.min < 0.f || !(it->second.max > 0.f)) continue;
    q->input_scale = it->second.max / 255.f;
    ++full;
  }
  return full;
}

}  // namespace teeinfer
