#include "enclave/analysis/row_windows.h"

namespace teeinfer {

std::optional<RowWindow> fusable_row_window(const Graph& g, const Node& n) {
  std::optional<RowWindow> w = row_window_of(n);
  if (!w) return std::nullopt;
  const Dims& x = g.value(n.inputs[0]).dims;
  const Dims& y = g.value(n.outputs[0]).dims;
  if (x.size() != 4 || y.size() != 4 || x[0] != 1 || y[2] < 2 || has_padding_only_outputs(g, n)) return std::nullopt;
  if (n.op == OpKind::kConv && std::get<ConvParams>(n.params).fused_sum) return std::nullopt;
  return w;
}

std::optional<RowWindow> spill_band_window(const Graph& g, const Node& n) {
  std::optional<RowWindow> w = row_window_of(n);
  if (w && n.op == OpKind::kConv && std::get<ConvParams>(n.params).fused_sum && has_padding_only_outputs(g, n))
    return std::nullopt;
  return w;
}

bool runs_in_bands(const Graph& g, const Node& n) {
  return spill_band_window(g, n) && g.value(n.inputs[0]).dims.size() == 4 && g.value(n.outputs[0]).dims.size() == 4;
}

}  // namespace teeinfer
