// Conv as a naive framework does it (unmodified mode, see execution_mode.h): the NCHW
// input is unfolded by im2col into the shared workspace, {N, G, K, OH*OW} with
// K = C/G * KH * KW, then a GEMM per image and group multiplies the {OC/G, K} weights
// (the ONNX bytes as they are) by it, straight into the NCHW output. Bias, a fused
// residual sum and fused activations ride on the GEMM as oneDNN post-ops, so the
// arithmetic matches the planned path; only the memory behaviour differs.
#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

using dnnl::memory;

namespace {

// 2-D geometry (a 1-D conv is a 2-D one with H = 1).
struct ConvGeometry {
  int64_t n, c, h, w, oc, oh, ow, groups, kh, kw;
  int64_t sh, sw, dh, dw, ph, pw;
  int64_t c_per_group() const { return c / groups; }
  int64_t k() const { return c_per_group() * kh * kw; }
};

ConvGeometry geometry(const Node& n, const Graph& g) {
  const auto& p = std::get<ConvParams>(n.params);
  const Dims& x = g.value(n.inputs[0]).dims;
  const Dims& w = g.value(n.inputs[1]).dims;
  const Dims& y = g.value(n.outputs[0]).dims;
  if (x.size() != 4 && x.size() != 3)
    throw Error(ErrorCode::kUnsupported,
                "Conv node '" + n.name + "': --mode unmodified implements 1-D and 2-D convolutions only");
  bool two_d = x.size() == 4;
  auto at = [&](const Dims& d, size_t i, int64_t one) { return two_d ? d[i] : one; };
  auto spatial = [&](const Dims& d, int64_t one_d_h) {  // {h, w} of a window attribute
    return two_d ? std::pair{d[0], d[1]} : std::pair{one_d_h, d[0]};
  };
  auto [sh, sw] = spatial(p.strides, 1);
  auto [dh, dw] = spatial(p.dilations, 1);
  auto [ph, pw] = spatial(p.pads_begin, 0);
  return {x[0],        x[1],     at(x, 2, 1), x.back(), y[1], at(y, 2, 1), y.back(), p.groups,
          at(w, 2, 1), w.back(), sh,          sw,       dh,   dw,          ph,       pw};
}

// Darknet's im2col_cpu, batched over images and groups: col[n][g][(c*KH+kh)*KW+kw][oh*OW+ow].
void im2col(const ConvGeometry& s, const float* x, float* col) {
  const int64_t cg = s.c_per_group(), ohw = s.oh * s.ow;
  for (int64_t img = 0; img < s.n; ++img)
    for (int64_t c = 0; c < s.c; ++c) {
      const float* plane = x + (img * s.c + c) * s.h * s.w;
      int64_t g = c / cg, cl = c % cg;
      for (int64_t kh = 0; kh < s.kh; ++kh)
        for (int64_t kw = 0; kw < s.kw; ++kw) {
          float* row = col + ((img * s.groups + g) * s.k() + (cl * s.kh + kh) * s.kw + kw) * ohw;
          for (int64_t oh = 0; oh < s.oh; ++oh) {
            int64_t ih = oh * s.sh - s.ph + kh * s.dh;
            float* out = row + oh * s.ow;
            if (ih < 0 || ih >= s.h) {
              std::fill(out, out + s.ow, 0.f);
              continue;
            }
            const float* in = plane + ih * s.w;
            for (int64_t ow = 0; ow < s.ow; ++ow) {
              int64_t iw = ow * s.sw - s.pw + kw * s.dw;
              out[ow] = iw >= 0 && iw < s.w ? in[iw] : 0.f;
            }
          }
        }
    }
}

}  // namespace

void lower_conv_im2col(LoweringContext& l, const Node& n) {
  const auto& p = std::get<ConvParams>(n.params);
  const Graph& g = l.graph();
  ConvGeometry s = geometry(n, g);
  bool has_bias = n.inputs.size() > 2 && n.inputs[2] != kNoValue;
  const memory::dim ocg = s.oc / s.groups, ohw = s.oh * s.ow, k = s.k();
  auto f32 = memory::data_type::f32;
  auto md3 = [&](memory::dim a, memory::dim b) { return memory::desc({1, a, b}, f32, memory::format_tag::abc); };
  // One GEMM per image and group, as Darknet loops: {OC/G x K} weights times {K x OH*OW}
  // columns. The bias is a per-row binary post-op: oneDNN's fast matmuls take no
  // per-row bias argument.
  memory::desc w_md = md3(ocg, k), col_md = md3(k, ohw), y_md = md3(ocg, ohw), b_md = md3(ocg, 1);
  dnnl::primitive_attr attr = attr_with({});
  dnnl::post_ops po;
  if (p.fused_sum) po.append_sum(1.f);
  if (has_bias) po.append_binary(dnnl::algorithm::binary_add, b_md);
  PostOpSplit activations = split_post_ops(p.post_ops);
  for (const auto& e : activations.fused) append_eltwise(po, e);
  attr.set_post_ops(po);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(w_md, col_md, y_md), attr, l.engine());
  dnnl::matmul gemm(pd);

  const Dims& y = g.value(n.outputs[0]).dims;
  Slot x = l.input(n.inputs[0], Layout::kPlain);
  Slot col = l.shared_workspace(memory::desc({s.n * s.groups * k * ohw}, f32, memory::format_tag::a));
  l.add_custom(
      n.name + " (im2col)", "im2col",
      [s](const std::vector<void*>& b) { im2col(s, static_cast<const float*>(b[0]), static_cast<float*>(b[1])); },
      {x, col});
  Slot out = l.output(n.outputs[0], layout_md(y, Layout::kPlain));
  if (p.fused_sum) {  // dst starts as the residual; a naive framework copies it in
    Slot r = l.input(n.inputs[3], Layout::kPlain);
    l.add_custom(n.name + " (residual copy)", "copy",
                 [bytes = out.md.get_size()](const std::vector<void*>& b) { std::memcpy(b[1], b[0], bytes); },
                 {r, out});
  }
  Slot w = l.constant(n.inputs[1], memory::desc({s.oc * k}, f32, memory::format_tag::a));
  Slot bias = has_bias ? l.constant(n.inputs[2], memory::desc({s.oc}, f32, memory::format_tag::a)) : Slot{};
  for (int64_t img = 0; img < s.n; ++img)
    for (int64_t grp = 0; grp < s.groups; ++grp) {
      int64_t ig = img * s.groups + grp;
      std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, view_at(w, w_md, grp * ocg * k)},
                                             {DNNL_ARG_WEIGHTS, view_at(col, col_md, ig * k * ohw)},
                                             {DNNL_ARG_DST, view_at(out, y_md, ig * ocg * ohw)}};
      if (has_bias)
        args.emplace_back(DNNL_ARG_ATTR_MULTIPLE_POST_OP(p.fused_sum ? 1 : 0) | DNNL_ARG_SRC_1,
                          view_at(bias, b_md, grp * ocg));
      std::string step = s.n * s.groups > 1 ? n.name + " (gemm " + std::to_string(ig) + ")" : n.name;
      l.add_primitive(step, gemm, pd, std::move(args));
      l.add_eltwise_steps(step, activations.rest, view_at(out, y_md, ig * ocg * ohw));
    }
}

}  // namespace teeinfer
