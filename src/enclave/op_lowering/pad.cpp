// Constant Pad on a plain tensor. Hand-written: oneDNN has no padding primitive. Pads
// that feed a Conv/AveragePool are folded into that op at import and never get here.
#include <algorithm>
#include <cstring>

#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

void lower_pad(LoweringContext& l, const Node& n) {
  const auto& p = std::get<PadParams>(n.params);
  const Dims& x = l.graph().value(n.inputs[0]).dims;
  const Dims& y = l.graph().value(n.outputs[0]).dims;
  Slot src = l.input(n.inputs[0], Layout::kPlain);
  Slot dst = l.output(n.outputs[0], layout_md(y, Layout::kPlain));
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
