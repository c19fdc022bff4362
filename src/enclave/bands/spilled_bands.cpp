// Conv/Pool nodes next to a spilled activation (LoweringOptions::spilled) run in bands
// of output rows. Per band: the input rows it needs (its rows plus the window's halo)
// are unsealed from host memory into a band buffer, or viewed in place when the input is
// in the arena; a fused residual's rows are unsealed (or copied) into the output band;
// the band is computed; and its rows are sealed out when the output is spilled, copied to
// the host when it is a graph output written out in bands. Of a spilled activation (or an
// output written out) only one band is ever in the arena.
#include "common/error.h"
#include "enclave/analysis/row_windows.h"
#include "enclave/bands/band_lowering.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

void lower_spilled_bands(LoweringContext& l, const Node& n) {
  if (n.op != OpKind::kConv && n.op != OpKind::kPool) return lower_spilled_row_op(l, n);
  const Graph& g = l.graph();
  auto window = spill_band_window(g, n);
  if (!window || !runs_in_bands(g, n))
    throw Error(ErrorCode::kUnsupported,
                n.onnx_op + " node '" + n.name + "' cannot run in bands next to a spilled activation");
  const ValueId x = n.inputs[0], y = n.outputs[0];
  const bool is_conv = n.op == OpKind::kConv;
  const ValueId residual = is_conv && std::get<ConvParams>(n.params).fused_sum ? n.inputs[3] : kNoValue;
  const Dims &xd = g.value(x).dims, &yd = g.value(y).dims;
  const int64_t in_h = xd[2], out_h = yd[2];
  std::vector<Band> bands =
      split_bands(out_h, l.spills().band_rows(n), in_h, window->stride, window->dilation, window->kernel, window->pad);
  std::string spilled = std::string(l.spills().is_spilled(x) ? " input" : "") +
                        (l.spills().is_spilled(y) ? " output" : "") +
                        (residual != kNoValue && l.spills().is_spilled(residual) ? " residual" : "");
  std::string how = "bands of " + std::to_string(bands.front().out_rows) + " rows";
  if (!spilled.empty()) how += "; spilled:" + spilled;
  if (l.spills().is_written_out(y)) how += "; output written out";
  l.note_strategy(n, how);
  int64_t max_in = 0, max_out = 0;
  for (const Band& b : bands) {
    max_in = std::max(max_in, b.in_rows);
    max_out = std::max(max_out, b.out_rows);
  }
  memory::desc y_md = layout_md(yd, Layout::kChannelsLast);
  Slot in_full, out_full, residual_full, in_band, out_band;
  // A plain input (a graph input is NCHW) is not converted whole: each band's rows are
  // reordered into a channels-last band buffer, so no whole channels-last copy is made.
  bool plain_input = false;
  if (l.spills().is_spilled(x)) {
    in_band = l.scratch(slab_md(xd, max_in), g.value(x).name + " (unspilled band)");
  } else {
    Slot as_is = l.input_as_is(x);
    plain_input = is_layout(as_is.md, Layout::kPlain) && !same_bytes(as_is.md, layout_md(xd, Layout::kChannelsLast));
    if (plain_input) {
      in_full = as_is;
      in_band = l.scratch(slab_md(xd, max_in), g.value(x).name + " (channels-last band)");
    } else {
      in_full = l.input(x, Layout::kChannelsLast);
    }
  }
  bool residual_in_place = false;
  if (l.spills().leaves_in_bands(y)) {
    out_band = l.scratch(slab_md(yd, max_out), g.value(y).name + " (band out)");
  } else if (residual != kNoValue && !l.spills().is_spilled(residual)) {
    std::optional<Slot> in_place = l.reuse_for_output(residual, y, y_md);
    residual_in_place = in_place.has_value();
    out_full = in_place ? *in_place : l.output(y, y_md);
  } else {
    out_full = l.output(y, y_md);
  }
  if (residual != kNoValue && !l.spills().is_spilled(residual) && !residual_in_place)
    residual_full = l.input(residual, Layout::kChannelsLast);

  ConvBandState state;
  for (int64_t img = 0; img < xd[0]; ++img)
    for (const Band& b : bands) {
      std::string label = xd[0] > 1 ? ", image " + std::to_string(img) : "";
      memory::desc in_md = slab_md(xd, b.in_rows), out_md = slab_md(yd, b.out_rows);
      const bool into_band = l.spills().is_spilled(x) || plain_input;
      Slot src =
          into_band ? view_at(in_band, in_md, 0) : view_at(in_full, in_md, (img * in_h + b.in_first) * row_floats(xd));
      if (l.spills().is_spilled(x)) l.spills().add_spill(x, false, img, b.in_first, b.in_rows, src);
      if (plain_input)
        l.add_reorder(n.name + " (input rows " + std::to_string(b.in_first) + "+" + std::to_string(b.in_rows) + label +
                          " to channels-last)",
                      plain_rows_at(in_full, xd, img, b.in_first, b.in_rows), src, StepKind::kLayout);
      Slot dst = l.spills().leaves_in_bands(y)
                     ? view_at(out_band, out_md, 0)
                     : view_at(out_full, out_md, (img * out_h + b.out_first) * row_floats(yd));
      if (residual != kNoValue && l.spills().is_spilled(residual)) {
        l.spills().add_spill(residual, false, img, b.out_first, b.out_rows, dst);
      } else if (residual != kNoValue && !residual_in_place) {
        Slot rows = view_at(residual_full, out_md, (img * out_h + b.out_first) * row_floats(yd));
        l.add_reorder(
            n.name + " (residual rows " + std::to_string(b.out_first) + "+" + std::to_string(b.out_rows) + label + ")",
            rows, dst);
      }
      if (is_conv)
        add_conv_band(l, n, std::get<ConvParams>(n.params), src, dst, b, state, label);
      else
        add_pool_band(l, n, src, dst, b);
      if (l.spills().leaves_in_bands(y)) l.spills().add_band_out(y, img, b.out_first, b.out_rows, dst);
    }
}

}  // namespace teeinfer
