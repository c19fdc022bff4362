// Standalone activations, BatchNorm (inference), LRN and Softmax. They keep the layout
// their input already has, except Softmax over flattened dims (opset < 13).
#include "common/error.h"
#include "enclave/kernels/kernels.h"

namespace teeinfer {

using dnnl::memory;

void lower_eltwise(Lowering& l, const Node& n) {
  const auto& p = std::get<EltwiseParams>(n.params);
  Slot src = l.input_as_is(n.inputs[0]);
  Slot dst = l.output(n.outputs[0], src.md);
  dnnl::post_ops ops;
  append_eltwise(ops, p);
  // The first op reads src and writes dst; any further op (HardSigmoid) runs in place.
  for (int i = 0; i < ops.len(); ++i) {
    float scale, alpha, beta;
    dnnl::algorithm alg;
    ops.get_params_eltwise(i, scale, alg, alpha, beta);
    dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, alg, src.md, alpha, beta);
    dnnl::eltwise_forward::primitive_desc pd(d, attr_with({}), l.engine());
    l.add_primitive(n.name, dnnl::eltwise_forward(pd), pd, {{DNNL_ARG_SRC, i == 0 ? src : dst}, {DNNL_ARG_DST, dst}});
  }
}

void lower_batchnorm(Lowering& l, const Node& n) {
  const auto& p = std::get<BatchNormParams>(n.params);
  Slot src = l.input_as_is(n.inputs[0]);
  auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
               dnnl::normalization_flags::use_shift;
  if (p.fused_relu) flags |= dnnl::normalization_flags::fuse_norm_relu;
  dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_inference, src.md, p.epsilon, flags);
  dnnl::batch_normalization_forward::primitive_desc pd(d, attr_with({}), l.engine());
  auto vec = [&](ValueId v) { return l.constant(v, layout_md(l.graph().value(v).dims, Layout::kPlain)); };
  std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, src},
                                         {DNNL_ARG_SCALE, vec(n.inputs[1])},
                                         {DNNL_ARG_SHIFT, vec(n.inputs[2])},
                                         {DNNL_ARG_MEAN, vec(n.inputs[3])},
                                         {DNNL_ARG_VARIANCE, vec(n.inputs[4])}};
  args.emplace_back(DNNL_ARG_DST, l.output(n.outputs[0], pd.dst_desc()));
  l.add_primitive(n.name, dnnl::batch_normalization_forward(pd), pd, std::move(args));
}

void lower_lrn(Lowering& l, const Node& n) {
  const auto& p = std::get<LrnParams>(n.params);
  if (p.size % 2 == 0)
    throw Error(ErrorCode::kUnsupported, "LRN node '" + n.name + "': even size " + std::to_string(p.size));
  Slot src = l.input_as_is(n.inputs[0]);
  dnnl::lrn_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::lrn_across_channels, src.md, p.size,
                            p.alpha, p.beta, p.bias);
  dnnl::lrn_forward::primitive_desc pd(d, attr_with({}), l.engine());
  Slot dst = l.output(n.outputs[0], pd.dst_desc());
  l.add_primitive(n.name, dnnl::lrn_forward(pd), pd, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
}

void lower_softmax(Lowering& l, const Node& n) {
  const auto& p = std::get<SoftmaxParams>(n.params);
  const Dims& x = l.graph().value(n.inputs[0]).dims;
  int64_t rank = static_cast<int64_t>(x.size());
  if (p.coerce_2d && p.axis != rank - 1) {
    // Softmax over the flattened dims [axis, rank): view the plain tensor as 2-D.
    Dims outer(x.begin(), x.begin() + p.axis), inner(x.begin() + p.axis, x.end());
    Dims flat{element_count(outer, n.name), element_count(inner, n.name)};
    Slot src = l.input(n.inputs[0], Layout::kPlain);
    memory::desc md2 = layout_md(flat, Layout::kPlain);
    dnnl::softmax_v2_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, md2, md2,
                                     1);
    dnnl::softmax_v2_forward::primitive_desc pd(d, attr_with({}), l.engine());
    Slot dst = l.output(n.outputs[0], layout_md(x, Layout::kPlain));
    l.add_primitive(n.name, dnnl::softmax_v2_forward(pd), pd,
                    {{DNNL_ARG_SRC, Slot{src.buffer, md2}}, {DNNL_ARG_DST, Slot{dst.buffer, md2}}});
    return;
  }
  Slot src = l.input_as_is(n.inputs[0]);
  dnnl::softmax_v2_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, src.md,
                                   src.md, static_cast<int>(p.axis));
  dnnl::softmax_v2_forward::primitive_desc pd(d, attr_with({}), l.engine());
  Slot dst = l.output(n.outputs[0], pd.dst_desc());
  l.add_primitive(n.name, dnnl::softmax_v2_forward(pd), pd, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
}

}  // namespace teeinfer
