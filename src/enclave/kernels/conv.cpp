// Conv: {N,C,*spatial} x {OC,C/G,*k} (+ residual {N,OC,*out}) -> {N,OC,*out}.
// Channels-last activations, weights in the layout oneDNN picks (reordered once, at
// load), a fused residual as the sum post-op, fused activations after it.
#include <optional>

#include "enclave/kernels/kernels.h"

namespace teeinfer {

using dnnl::memory;

void lower_conv(Lowering& l, const Node& n) {
  const auto& p = std::get<ConvParams>(n.params);
  const Graph& g = l.graph();
  const Dims& x = g.value(n.inputs[0]).dims;
  const Dims& w = g.value(n.inputs[1]).dims;
  const Dims& y = g.value(n.outputs[0]).dims;
  bool has_bias = n.inputs.size() > 2 && n.inputs[2] != kNoValue;

  memory::dims wdims = to_dnnl_dims(w);
  if (p.groups > 1) {  // oneDNN wants {G, OC/G, IC/G, k...}; the bytes are the same
    wdims[0] /= p.groups;
    wdims.insert(wdims.begin(), p.groups);
  }
  DnnlWindow win = dnnl_window(p.strides, p.dilations, p.pads_begin, p.pads_end);

  memory::desc src_md = layout_md(x, Layout::kChannelsLast), dst_md = layout_md(y, Layout::kChannelsLast);
  memory::desc w_any(wdims, memory::data_type::f32, memory::format_tag::any);
  memory::desc b_md = has_bias ? memory::desc({w[0]}, memory::data_type::f32, memory::format_tag::a) : memory::desc();
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
                                    w_any, b_md, dst_md, win.strides, win.dilations, win.pads_begin, win.pads_end);
  dnnl::primitive_attr attr = attr_with({});
  dnnl::post_ops po;
  if (p.fused_sum) po.append_sum(1.f);  // dst already holds the residual
  for (const auto& e : p.post_ops) append_eltwise(po, e);
  attr.set_post_ops(po);
  dnnl::convolution_forward::primitive_desc pd(d, attr, l.engine());

  Slot dst;
  if (p.fused_sum) {
    ValueId residual = n.inputs[3];
    std::optional<Slot> in_place = l.reuse_for_output(residual, n.outputs[0], pd.dst_desc());
    if (in_place) {
      dst = *in_place;
    } else {  // the residual is still needed elsewhere: copy it into a fresh output
      Slot r = l.input(residual, Layout::kChannelsLast);
      dst = l.output(n.outputs[0], pd.dst_desc());
      auto copy = dnnl::reorder::primitive_desc(l.engine(), r.md, l.engine(), dst.md);
      l.add_primitive(n.name + " (residual copy)", dnnl::reorder(copy), copy, {{DNNL_ARG_FROM, r}, {DNNL_ARG_TO, dst}});
    }
  }
  Slot src = l.input(n.inputs[0], Layout::kChannelsLast);
  Slot weights = l.constant(n.inputs[1], pd.weights_desc());
  std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}};
  if (has_bias) args.emplace_back(DNNL_ARG_BIAS, l.constant(n.inputs[2], pd.bias_desc()));
  if (!p.fused_sum) dst = l.output(n.outputs[0], pd.dst_desc());
  args.emplace_back(DNNL_ARG_DST, dst);
  l.add_primitive(n.name, dnnl::convolution_forward(pd), pd, std::move(args));
}

}  // namespace teeinfer
