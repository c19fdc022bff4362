// The row windows of Conv and Pool nodes: what running a node in bands of output rows
// (banded convolution, band-fused chains, spilled activations) needs, and which nodes can.
#pragma once

#include <optional>

#include "common/graph.h"

namespace teeinfer {

// True when some output row or column of a window op sees only padding: a pad larger than
// the window's extent (then some band of rows would too), or, counted per position, no tap
// of an output's window inside the input (a small input can be straddled by a dilated
// window whose pads are smaller than its extent).
inline bool has_padding_only_outputs(const Dims& kernel, const Dims& strides, const Dims& dilations,
                                     const Dims& pads_begin, const Dims& pads_end, const Dims& x_spatial,
                                     const Dims& y_spatial) {
  for (size_t i = 0; i < kernel.size(); ++i) {
    int64_t extent = (kernel[i] - 1) * dilations[i];
    if (pads_begin[i] > extent || pads_end[i] > extent) return true;
  }
  for (size_t i = 0; i < kernel.size(); ++i)
    for (int64_t o = 0; o < y_spatial[i]; ++o) {
      bool sees_input = false;
      for (int64_t k = 0; k < kernel[i] && !sees_input; ++k) {
        int64_t at = o * strides[i] - pads_begin[i] + k * dilations[i];
        sees_input = at >= 0 && at < x_spatial[i];
      }
      if (!sees_input) return true;
    }
  return false;
}

inline bool has_padding_only_outputs(const Graph& g, const Node& n) {
  const Dims& x = g.value(n.inputs[0]).dims;
  const Dims& y = g.value(n.outputs[0]).dims;
  const Dims xs(x.begin() + 2, x.end()), ys(y.begin() + 2, y.end());
  if (n.op == OpKind::kConv) {
    const auto& p = std::get<ConvParams>(n.params);
    return has_padding_only_outputs(p.kernel, p.strides, p.dilations, p.pads_begin, p.pads_end, xs, ys);
  }
  const auto& p = std::get<PoolParams>(n.params);
  return has_padding_only_outputs(p.kernel, p.strides, p.dilations, p.pads_begin, p.pads_end, xs, ys);
}

// The window of a Conv or Pool node along its first spatial dim (rows), what banding
// needs; nullopt for other ops and for average pools whose ceil_mode padding would be
// counted (their bands would divide differently).
struct RowWindow {
  int64_t stride, dilation, kernel, pad;
};
inline std::optional<RowWindow> row_window_of(const Node& n) {
  if (n.op == OpKind::kConv) {
    const auto& p = std::get<ConvParams>(n.params);
    return RowWindow{p.strides[0], p.dilations[0], p.kernel[0], p.pads_begin[0]};
  }
  if (n.op != OpKind::kPool) return std::nullopt;
  const auto& p = std::get<PoolParams>(n.params);
  if (p.kind == PoolKind::kAverage && p.count_include_pad && p.pads_end != p.declared_pads_end) return std::nullopt;
  return RowWindow{p.strides[0], p.dilations[0], p.kernel[0], p.pads_begin[0]};
}

// The row window of a Conv or Pool node that can be band-fused; nullopt when it cannot
// (a fused residual, a window that sees only padding, not one image of 4-D rows).
std::optional<RowWindow> fusable_row_window(const Graph& g, const Node& n);

// The row window of a Conv or Pool node that can run in bands next to a spilled
// activation: oneDNN 2.6.3's sum post-op fails on padding-only rows (see conv.cpp).
std::optional<RowWindow> spill_band_window(const Graph& g, const Node& n);
// spill_band_window() and 4-D input and output.
bool runs_in_bands(const Graph& g, const Node& n);

}  // namespace teeinfer
