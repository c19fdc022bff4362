#include "enclave/op_lowering/conv_winograd.h"

#include <algorithm>

#include "enclave/op_lowering/conv_descriptors.h"

namespace teeinfer {

using dnnl::memory;

bool winograd_eligible(const Graph& g, const Node& n) {
  if (n.op != OpKind::kConv) return false;
  const auto& p = std::get<ConvParams>(n.params);
  const Value& x = g.value(n.inputs[0]);
  const Value& w = g.value(n.inputs[1]);
  auto all_one = [](const Dims& d) { return std::all_of(d.begin(), d.end(), [](int64_t v) { return v == 1; }); };
  return x.dims.size() == 4 && w.dtype == DType::kF32 && !p.int8.active() && p.groups == 1 && p.kernel == Dims{3, 3} &&
         all_one(p.strides) && all_one(p.dilations);
}

namespace {

std::vector<dnnl::convolution_forward::primitive_desc> implementations(const dnnl::engine& engine, const Graph& g,
                                                                       const Node& n, const ConvParams& p) {
  ConvShapes s = conv_shapes(g, n);
  auto any = [](const Dims& d) {
    return memory::desc(to_dnnl_dims(d), memory::data_type::f32, memory::format_tag::any);
  };
  std::vector<dnnl::convolution_forward::primitive_desc> out;
  try {
    auto pd = conv_pd(engine, s, p, any(s.x), any_weights(s, p), any(s.y), p.pads_begin, p.pads_end, 0,
                      dnnl::algorithm::convolution_winograd);
    // Only the implementation oneDNN prefers: asking 2.6.3 for the next one after its
    // F(2,3) kernel (next_impl) crashes inside the library for many shapes.
    out.push_back(pd);
  } catch (const dnnl::error&) {
    // no Winograd kernel for this shape, attribute set or CPU
  }
  return out;
}

}  // namespace

WinogradKernels winograd_kernels(const dnnl::engine& engine, const Graph& g, const Node& n, const ConvParams& p) {
  WinogradKernels k{implementations(engine, g, n, p), split_post_ops(p.post_ops).rest};
  if (!k.pds.empty() || p.post_ops.empty()) return k;
  ConvParams bare = p;
  bare.post_ops.clear();
  return {implementations(engine, g, n, bare), p.post_ops};
}

bool lower_conv_winograd(LoweringContext& l, const Node& n, const ConvParams& p, const std::string& impl,
                         const Slot& dst) {
  WinogradKernels kernels = winograd_kernels(l.engine(), l.graph(), n, p);
  auto pd =
      std::find_if(kernels.pds.begin(), kernels.pds.end(), [&](const auto& d) { return impl == d.impl_info_str(); });
  if (pd == kernels.pds.end()) return false;
  Slot x = l.input(n.inputs[0], Layout::kChannelsLast);
  Slot blocked_x = l.scratch(pd->src_desc(), n.name + " (Winograd input)");
  l.add_reorder(n.name + " (input to blocked)", x, blocked_x, StepKind::kLayout);
  std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, blocked_x},
                                         {DNNL_ARG_WEIGHTS, l.constant(n.inputs[1], pd->weights_desc())}};
  if (n.inputs.size() > 2 && n.inputs[2] != kNoValue)
    args.emplace_back(DNNL_ARG_BIAS, l.constant(n.inputs[2], pd->bias_desc()));
  Slot blocked_y = l.scratch(pd->dst_desc(), n.name + " (Winograd output)");
  if (p.fused_sum) l.add_reorder(n.name + " (residual to blocked)", dst, blocked_y, StepKind::kLayout);
  args.emplace_back(DNNL_ARG_DST, blocked_y);
  l.add_primitive(n.name, dnnl::convolution_forward(*pd), *pd, std::move(args));
  l.add_reorder(n.name + " (output to channels-last)", blocked_y, dst, StepKind::kLayout);
  l.add_eltwise_steps(n.name, kernels.after, dst);
  l.note_strategy(n, "Winograd (" + impl + ")");
  return true;
}

}  // namespace teeinfer
