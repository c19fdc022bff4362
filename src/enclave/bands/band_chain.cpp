// Band-fused layer chains: a run of Conv/Pool nodes computed band by band through all of
// them. For each band of the chain's output rows, the rows every earlier layer must
// produce are found backwards (each layer's input band is its predecessor's output band),
// then the layers run forwards on small band buffers. Only the chain's input and output
// are whole in the arena; each intermediate activation exists as one band at a time,
// recomputing the halo rows that adjacent bands share.
#include "common/error.h"
#include "enclave/analysis/row_windows.h"
#include "enclave/bands/band_lowering.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

void lower_band_chain(LoweringContext& l, size_t first, size_t last, int64_t band_rows) {
  const Graph& g = l.graph();
  std::vector<const Node*> nodes;
  std::vector<RowWindow> windows;
  for (size_t k = first; k <= last; ++k) {
    const Node& n = g.nodes[k];
    auto w = fusable_row_window(g, n);
    if (!w || (k > first && n.inputs[0] != g.nodes[k - 1].outputs[0]))
      throw Error(ErrorCode::kUnsupported, "node '" + n.name + "' cannot be band-fused");
    nodes.push_back(&n);
    windows.push_back(*w);
  }
  const size_t count = nodes.size();
  for (const Node* n : nodes)
    l.note_strategy(*n, "fused with " + nodes.front()->name + " .. " + nodes.back()->name + ", bands of " +
                            std::to_string(band_rows) + " output rows");
  auto x_of = [&](size_t k) -> const Dims& { return g.value(nodes[k]->inputs[0]).dims; };
  auto y_of = [&](size_t k) -> const Dims& { return g.value(nodes[k]->outputs[0]).dims; };

  // Per band of the last output: every layer's band, found backwards.
  const int64_t out_h = y_of(count - 1)[2];
  std::vector<std::vector<Band>> plan;  // [band][layer]
  for (int64_t o = 0; o < out_h; o += band_rows) {
    std::vector<Band> layers(count);
    int64_t want_first = o, want_rows = std::min(band_rows, out_h - o);
    for (size_t k = count; k-- > 0;) {
      const RowWindow& w = windows[k];
      layers[k] = band_of(want_first, want_rows, x_of(k)[2], w.stride, w.dilation, w.kernel, w.pad);
      if (layers[k].in_rows < 1) throw Error(ErrorCode::kUnsupported, "band sees only padding");
      want_first = layers[k].in_first;
      want_rows = layers[k].in_rows;
    }
    plan.push_back(std::move(layers));
  }
  // One band buffer per intermediate activation, sized for its largest band.
  std::vector<Slot> buffers(count - 1);
  for (size_t k = 0; k + 1 < count; ++k) {
    int64_t rows = 0;
    for (const auto& layers : plan) rows = std::max(rows, layers[k].out_rows);
    buffers[k] = l.scratch(slab_md(y_of(k), rows), g.value(nodes[k]->outputs[0]).name + " (band)");
  }
  Slot in = l.input(nodes[0]->inputs[0], Layout::kChannelsLast);
  Slot out = l.output(nodes[count - 1]->outputs[0], layout_md(y_of(count - 1), Layout::kChannelsLast));
  std::vector<ConvBandState> states(count);
  for (const auto& layers : plan)
    for (size_t k = 0; k < count; ++k) {
      const Band& b = layers[k];
      Slot src = k == 0 ? view_at(in, slab_md(x_of(0), b.in_rows), b.in_first * row_floats(x_of(0)))
                        : Slot{buffers[k - 1].buffer, slab_md(x_of(k), b.in_rows), buffers[k - 1].offset};
      Slot dst = k + 1 == count ? view_at(out, slab_md(y_of(k), b.out_rows), b.out_first * row_floats(y_of(k)))
                                : Slot{buffers[k].buffer, slab_md(y_of(k), b.out_rows), buffers[k].offset};
      if (nodes[k]->op == OpKind::kConv)
        add_conv_band(l, *nodes[k], std::get<ConvParams>(nodes[k]->params), src, dst, b, states[k]);
      else
        add_pool_band(l, *nodes[k], src, dst, b);
    }
}

}  // namespace teeinfer
