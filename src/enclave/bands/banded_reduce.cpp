// A ReduceMax or ReduceMin over every axis of an activation that is spilled (the min and
// max of DynamicQuantizeLinear, imported from quantized models: host/quantize_linear.cpp)
// reads it a band of rows at a time: each band's rows are unsealed into a band buffer and
// folded into the running extreme, which the output holds (the first band sets it). Max
// and min are exact whatever the order, so the result equals the whole reduction's.
#include <algorithm>

#include "enclave/analysis/banded_ops.h"
#include "enclave/bands/band.h"
#include "enclave/bands/band_lowering.h"

namespace teeinfer {

using dnnl::memory;

void lower_banded_reduce(LoweringContext& l, const Node& n) {
  const Graph& g = l.graph();
  const ValueId x = n.inputs[0], y = n.outputs[0];
  const Dims& xd = g.value(x).dims;
  const bool is_max = std::get<ReduceParams>(n.params).kind == ReduceKind::kMax;
  const auto row_bytes = static_cast<int64_t>(row_floats(xd) * static_cast<int64_t>(sizeof(float)));
  const int64_t rows = std::max<int64_t>(static_cast<int64_t>(l.spills().band_bytes()) / row_bytes, 1);
  std::vector<Band> bands = split_bands(xd[2], rows, xd[2], 1, 1, 1, 0);  // a 1x1 window: rows as they are
  l.note_strategy(n, "bands of " + std::to_string(bands.front().out_rows) + " rows; spilled: input");
  Slot band = l.scratch(slab_md(xd, bands.front().out_rows), g.value(x).name + " (unspilled band)");
  Slot out = l.output(y, layout_md(g.value(y).dims, Layout::kPlain));
  bool first = true;
  for (int64_t img = 0; img < xd[0]; ++img)
    for (const Band& b : bands) {
      Slot rows_in = view_at(band, slab_md(xd, b.out_rows), 0);
      l.spills().add_spill(x, false, img, b.out_first, b.out_rows, rows_in);
      const int64_t count = b.out_rows * row_floats(xd);
      l.add_custom(n.name + " (rows " + std::to_string(b.out_first) + "+" + std::to_string(b.out_rows) +
                       (xd[0] > 1 ? ", image " + std::to_string(img) : "") + ")",
                   is_max ? "band_max" : "band_min",
                   [count, first, is_max](const std::vector<void*>& ptr) {
                     const auto* v = static_cast<const float*>(ptr[0]);
                     auto* extreme = static_cast<float*>(ptr[1]);
                     float m = first ? v[0] : *extreme;
                     for (int64_t i = 0; i < count; ++i) m = is_max ? std::max(m, v[i]) : std::min(m, v[i]);
                     *extreme = m;
                   },
                   {rows_in, out});
      first = false;
    }
}

}  // namespace teeinfer
