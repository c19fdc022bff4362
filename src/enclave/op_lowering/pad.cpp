// Pad on a plain tensor: constant, reflect or edge. Hand-written: oneDNN has no padding
// primitive. Zero pads that feed a Conv/AveragePool are folded into that op at import and
// never get here.
#include <algorithm>
#include <cstring>

#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

namespace {

// Reflect and edge: each output index of each dim reads one input index (reflect mirrors
// about the border element without repeating it, edge repeats the border element).
void lower_pad_border(LoweringContext& l, const Node& n, const PadParams& p, const Dims& x, const Dims& y,
                      const Slot& src, const Slot& dst) {
  size_t rank = x.size();
  std::vector<std::vector<int64_t>> from(rank);
  for (size_t k = 0; k < rank; ++k)
    for (int64_t o = 0; o < y[k]; ++o) {
      int64_t i = o - p.pads_begin[k], d = x[k];
      if (p.mode == PadMode::kEdge) {
        i = std::clamp<int64_t>(i, 0, d - 1);
      } else {  // reflect: pads < d (shape inference), one reflection suffices
        if (i < 0) i = -i;
        if (i >= d) i = 2 * (d - 1) - i;
      }
      from[k].push_back(i);
    }
  auto kernel = [x, y, from](const std::vector<void*>& ptr) {
    const float* in = static_cast<const float*>(ptr[0]);
    float* out = static_cast<float*>(ptr[1]);
    size_t rank = x.size();
    std::vector<int64_t> xs(rank, 1);
    for (size_t k = rank; k-- > 1;) xs[k - 1] = xs[k] * x[k];
    int64_t row = y[rank - 1], rows = element_count(y, "pad") / row;
    const std::vector<int64_t>& last = from[rank - 1];
    std::vector<int64_t> idx(rank, 0);
    for (int64_t r = 0; r < rows; ++r, out += row) {
      int64_t at = 0;
      for (size_t k = 0; k + 1 < rank; ++k) at += from[k][static_cast<size_t>(idx[k])] * xs[k];
      for (int64_t i = 0; i < row; ++i) out[i] = in[at + last[static_cast<size_t>(i)]];
      for (size_t k = rank - 1; k-- > 0;) {
        if (++idx[k] < y[k]) break;
        idx[k] = 0;
      }
    }
  };
  l.add_custom(n.name, p.mode == PadMode::kEdge ? "pad_edge" : "pad_reflect", kernel, {src, dst});
}

}  // namespace

void lower_pad(LoweringContext& l, const Node& n) {
  const auto& p = std::get<PadParams>(n.params);
  const Dims& x = l.graph().value(n.inputs[0]).dims;
  const Dims& y = l.graph().value(n.outputs[0]).dims;
  Slot src = l.input(n.inputs[0], Layout::kPlain);
  Slot dst = l.output(n.outputs[0], layout_md(y, Layout::kPlain));
  if (x.empty()) {  // a scalar has nothing to pad: a copy
    l.add_reorder(n.name, src, dst);
    return;
  }
  if (p.mode != PadMode::kConstant) return lower_pad_border(l, n, p, x, y, src, dst);
  auto kernel = [x, y, p](const std::vector<void*>& ptr) {
    const float* in = static_cast<const float*>(ptr[0]);
    float* out = static_cast<float*>(ptr[1]);
    size_t rank = x.size();
    std::vector<int64_t> ostride(rank, 1);
    for (size_t k = rank; k-- > 1;) ostride[k - 1] = ostride[k] * y[k];
    std::fill(out, out + ostride[0] * y[0], p.value);
    int64_t row = x[rank - 1], rows = rank > 1 ? element_count(x, "pad") / std::max<int64_t>(row, 1) : 1;
    std::vector<int64_t> idx(rank, 0);  // index of the current input row (last dim 0)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t o = p.pads_begin[rank - 1];
      for (size_t k = 0; k + 1 < rank; ++k) o += (idx[k] + p.pads_begin[k]) * ostride[k];
      std::memcpy(out + o, in + r * row, static_cast<size_t>(row) * sizeof(float));
      for (size_t k = rank - 1; k-- > 0;) {
        if (++idx[k] < x[k]) break;
        idx[k] = 0;
      }
    }
  };
  l.add_custom(n.name, "pad_constant", kernel, {src, dst});
}

}  // namespace teeinfer
