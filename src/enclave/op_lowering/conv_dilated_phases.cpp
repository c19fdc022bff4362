#include "enclave/op_lowering/conv_dilated_phases.h"

#include "enclave/bands/band.h"
#include "enclave/lowering/descriptors.h"
#include "enclave/lowering/post_ops.h"

namespace teeinfer {

using dnnl::memory;

namespace {

bool slow_kernel(const std::string& impl) {
  return impl.find("gemm") != std::string::npos || impl.find("ref") != std::string::npos;
}

// {N, dh, dw, H/dh, W/dw, C}: the phases of a channels-last {N, C, H, W} tensor, as a view
// of it (`dense` false) or as the dense batch of sub-images the phase conv reads/writes.
memory::desc phase_md(const Dims& nchw, int64_t dh, int64_t dw, bool dense) {
  const int64_t n = nchw[0], c = nchw[1], h = nchw[2], w = nchw[3];
  const int64_t hp = h / dh, wp = w / dw;
  memory::dims dims{n, dh, dw, hp, wp, c};
  memory::dims strides = dense ? plain_strides(dims) : memory::dims{h * w * c, w * c, c, dh * w * c, dw * c, 1};
  return memory::desc(dims, memory::data_type::f32, strides);
}

Dims phase_dims(const Dims& nchw, int64_t dh, int64_t dw) {
  return {nchw[0] * dh * dw, nchw[1], nchw[2] / dh, nchw[3] / dw};
}

}  // namespace

bool dilated_phases_eligible(const Graph& g, const Node& n) {
  if (n.op != OpKind::kConv) return false;
  const auto& p = std::get<ConvParams>(n.params);
  const Value& x = g.value(n.inputs[0]);
  if (x.dims.size() != 4 || g.value(n.inputs[1]).dtype != DType::kF32 || p.int8.active()) return false;
  const Dims& y = g.value(n.outputs[0]).dims;
  bool dilated = false;
  for (size_t i = 0; i < 2; ++i) {
    const int64_t d = p.dilations[i];
    if (p.strides[i] != 1 || d < 1) return false;
    if (x.dims[2 + i] % d != 0 || y[2 + i] % d != 0 || p.pads_begin[i] % d != 0 || p.pads_end[i] % d != 0) return false;
    dilated |= d > 1;
  }
  return dilated;
}

std::set<size_t> dilated_phase_candidates(const Graph& g) {
  std::set<size_t> out;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (dilated_phases_eligible(g, g.nodes[i])) out.insert(i);
  return out;
}

bool lower_conv_dilated_phases(LoweringContext& l, const Node& n, const ConvShapes& s, const ConvParams& p,
                               const std::string& direct_impl, const Slot& dst) {
  if (!slow_kernel(direct_impl) || !dilated_phases_eligible(l.graph(), n)) return false;
  const int64_t dh = p.dilations[0], dw = p.dilations[1];
  ConvShapes ps = s;
  ps.x = phase_dims(s.x, dh, dw);
  ps.y = phase_dims(s.y, dh, dw);
  ConvParams pp = p;
  pp.dilations = {1, 1};
  pp.pads_begin = {p.pads_begin[0] / dh, p.pads_begin[1] / dw};
  pp.pads_end = {p.pads_end[0] / dh, p.pads_end[1] / dw};
  auto pd = conv_pd(l.engine(), ps, pp, layout_md(ps.x, Layout::kChannelsLast), any_weights(ps, pp),
                    layout_md(ps.y, Layout::kChannelsLast), pp.pads_begin, pp.pads_end);
  if (slow_kernel(pd.impl_info_str())) return false;

  Slot x = l.input(n.inputs[0], Layout::kChannelsLast);
  Slot phases_x = l.scratch(pd.src_desc(), n.name + " (input phases)");
  l.add_reorder(n.name + " (input to phases)", view_at(x, phase_md(s.x, dh, dw, false), 0),
                view_at(phases_x, phase_md(s.x, dh, dw, true), 0), StepKind::kLayout);
  Slot phases_y = l.scratch(pd.dst_desc(), n.name + " (output phases)");
  memory::desc y_view = phase_md(s.y, dh, dw, false), y_dense = phase_md(s.y, dh, dw, true);
  if (p.fused_sum)
    l.add_reorder(n.name + " (residual to phases)", view_at(dst, y_view, 0), view_at(phases_y, y_dense, 0),
                  StepKind::kLayout);
  std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, phases_x},
                                         {DNNL_ARG_WEIGHTS, l.constant(n.inputs[1], pd.weights_desc())}};
  if (s.has_bias) args.emplace_back(DNNL_ARG_BIAS, l.constant(n.inputs[2], pd.bias_desc()));
  args.emplace_back(DNNL_ARG_DST, phases_y);
  l.add_primitive(n.name, dnnl::convolution_forward(pd), pd, std::move(args));
  l.add_reorder(n.name + " (output from phases)", view_at(phases_y, y_dense, 0), view_at(dst, y_view, 0),
                StepKind::kLayout);
  l.add_eltwise_steps(n.name, split_post_ops(p.post_ops).rest, dst);
  l.note_strategy(n, "dilation as " + std::to_string(dh * dw) + " phases (" + pd.impl_info_str() + " instead of " +
                         direct_impl + ")");
  return true;
}

}  // namespace teeinfer
