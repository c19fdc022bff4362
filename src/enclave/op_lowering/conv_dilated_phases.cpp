#include "enclave/op_lowering/conv_dilated_phases.h"

#include <cstring>
#include <optional>

#include "enclave/bands/band.h"
#include "enclave/lowering/descriptors.h"
#include "enclave/lowering/post_ops.h"

namespace teeinfer {

using dnnl::memory;

namespace {

bool slow_kernel(const std::string& impl) {
  return impl.find("gemm") != std::string::npos || impl.find("ref") != std::string::npos;
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// The phase form of a conv: dilation (dh, dw); each phase sub-image has ceil(H / dh) x
// ceil(W / dw) rows and columns (phases with fewer real ones are zero-filled: those pixels
// lie in the conv's bottom/right padding, which is zero too), and the phase conv's pads.
struct Phases {
  int64_t dh, dw;
  Dims in, out;  // {N * dh * dw, C, hp, wp} and {.., OC, ohp, owp}
  Dims pads_begin, pads_end;
  bool uniform;  // every phase has all its rows and columns: one reorder each way
};

std::optional<Phases> phases_of(const Dims& x, const Dims& y, const Dims& kernel, const ConvParams& p) {
  Phases ph{p.dilations[0], p.dilations[1], {}, {}, {}, {}, true};
  const int64_t d[2] = {ph.dh, ph.dw};
  ph.in = {x[0] * ph.dh * ph.dw, x[1], ceil_div(x[2], ph.dh), ceil_div(x[3], ph.dw)};
  ph.out = {y[0] * ph.dh * ph.dw, y[1], ceil_div(y[2], ph.dh), ceil_div(y[3], ph.dw)};
  for (size_t i = 0; i < 2; ++i) {
    if (p.pads_begin[i] % d[i] != 0) return std::nullopt;
    int64_t begin = p.pads_begin[i] / d[i];
    // The phase conv's end padding gives it exactly ceil(OH / dh) output rows.
    int64_t end = ph.out[2 + i] - ph.in[2 + i] - begin + kernel[i] - 1;
    if (end < 0) return std::nullopt;
    ph.pads_begin.push_back(begin);
    ph.pads_end.push_back(end);
    ph.uniform &= x[2 + i] % d[i] == 0 && y[2 + i] % d[i] == 0;
  }
  return ph;
}

// Channels-last {N, C, H, W}: the view of phase (a, b)'s pixels ({N, rows, cols, C}), and the
// place of that phase in the dense phase batch {N * dh * dw, C, hp, wp} (channels-last).
memory::desc phase_view(const Dims& t, int64_t dh, int64_t dw, int64_t rows, int64_t cols) {
  const int64_t h = t[2], w = t[3], c = t[1];
  return memory::desc({t[0], rows, cols, c}, memory::data_type::f32, memory::dims{h * w * c, dh * w * c, dw * c, 1});
}
memory::desc batch_view(const Dims& batch, int64_t dh, int64_t dw, int64_t rows, int64_t cols) {
  const int64_t hp = batch[2], wp = batch[3], c = batch[1];
  return memory::desc({batch[0] / (dh * dw), rows, cols, c}, memory::data_type::f32,
                      memory::dims{dh * dw * hp * wp * c, wp * c, c, 1});
}

// Copies every phase of `t` (channels-last dims `dims`) into `batch` (or back, `to_batch`
// false): one strided 6-D reorder when the phases are uniform, else one per phase.
void move_phases(LoweringContext& l, const std::string& name, const Slot& t, const Dims& dims, const Slot& batch,
                 const Dims& batch_dims, const Phases& ph, bool to_batch) {
  const int64_t dh = ph.dh, dw = ph.dw, hp = batch_dims[2], wp = batch_dims[3], c = dims[1];
  if (ph.uniform) {
    const int64_t h = dims[2], w = dims[3];
    memory::dims d6{dims[0], dh, dw, hp, wp, c};
    memory::desc view(d6, memory::data_type::f32, memory::dims{h * w * c, w * c, c, dh * w * c, dw * c, 1});
    memory::desc dense(d6, memory::data_type::f32, plain_strides(d6));
    Slot a = view_at(t, view, 0), b = view_at(batch, dense, 0);
    l.add_reorder(name, to_batch ? a : b, to_batch ? b : a, StepKind::kLayout);
    return;
  }
  for (int64_t a = 0; a < dh; ++a)
    for (int64_t b = 0; b < dw; ++b) {
      int64_t rows = ceil_div(dims[2] - a, dh), cols = ceil_div(dims[3] - b, dw);
      if (rows <= 0 || cols <= 0) continue;
      Slot pixels = view_at(t, phase_view(dims, dh, dw, rows, cols), (a * dims[3] + b) * c);
      Slot place = view_at(batch, batch_view(batch_dims, dh, dw, rows, cols), (a * dw + b) * hp * wp * c);
      l.add_reorder(name + " " + std::to_string(a) + "," + std::to_string(b), to_batch ? pixels : place,
                    to_batch ? place : pixels, StepKind::kLayout);
    }
}

void add_zero_fill(LoweringContext& l, const std::string& name, const Slot& s) {
  l.add_custom(name, "memset", [bytes = s.md.get_size()](const std::vector<void*>& b) { std::memset(b[0], 0, bytes); },
               {s});
}

}  // namespace

bool dilated_phases_eligible(const Graph& g, const Node& n) {
  if (n.op != OpKind::kConv) return false;
  const auto& p = std::get<ConvParams>(n.params);
  const Value& x = g.value(n.inputs[0]);
  if (x.dims.size() != 4 || g.value(n.inputs[1]).dtype != DType::kF32 || p.int8.active()) return false;
  bool dilated = false;
  for (size_t i = 0; i < 2; ++i) {
    if (p.strides[i] != 1 || p.dilations[i] < 1) return false;
    dilated |= p.dilations[i] > 1;
  }
  return dilated && phases_of(x.dims, g.value(n.outputs[0]).dims, p.kernel, p).has_value();
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
  const Phases ph = *phases_of(s.x, s.y, p.kernel, p);
  ConvShapes ps = s;
  ps.x = ph.in;
  ps.y = ph.out;
  ConvParams pp = p;
  pp.dilations = {1, 1};
  pp.pads_begin = ph.pads_begin;
  pp.pads_end = ph.pads_end;
  auto pd = conv_pd(l.engine(), ps, pp, layout_md(ps.x, Layout::kChannelsLast), any_weights(ps, pp),
                    layout_md(ps.y, Layout::kChannelsLast), pp.pads_begin, pp.pads_end);
  if (slow_kernel(pd.impl_info_str())) return false;

  Slot x = l.input(n.inputs[0], Layout::kChannelsLast);
  Slot phases_x = l.scratch(pd.src_desc(), n.name + " (input phases)");
  if (!ph.uniform) add_zero_fill(l, n.name + " (input phases: zero)", phases_x);
  move_phases(l, n.name + " (input to phases)", x, s.x, phases_x, ph.in, ph, true);
  Slot phases_y = l.scratch(pd.dst_desc(), n.name + " (output phases)");
  if (p.fused_sum) {
    if (!ph.uniform) add_zero_fill(l, n.name + " (output phases: zero)", phases_y);
    move_phases(l, n.name + " (residual to phases)", dst, s.y, phases_y, ph.out, ph, true);
  }
  std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, phases_x},
                                         {DNNL_ARG_WEIGHTS, l.constant(n.inputs[1], pd.weights_desc())}};
  if (s.has_bias) args.emplace_back(DNNL_ARG_BIAS, l.constant(n.inputs[2], pd.bias_desc()));
  args.emplace_back(DNNL_ARG_DST, phases_y);
  l.add_primitive(n.name, dnnl::convolution_forward(pd), pd, std::move(args));
  move_phases(l, n.name + " (output from phases)", dst, s.y, phases_y, ph.out, ph, false);
  l.add_eltwise_steps(n.name, split_post_ops(p.post_ops).rest, dst);
  l.note_strategy(n, "dilation as " + std::to_string(ph.dh * ph.dw) + " phases (" + pd.impl_info_str() +
                         " instead of " + direct_impl + ")");
  return true;
}

}  // namespace teeinfer
