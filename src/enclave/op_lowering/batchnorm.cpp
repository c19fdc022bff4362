// BatchNormalization (inference, global statistics), in the layout its input already has.
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

void lower_batchnorm(LoweringContext& l, const Node& n) {
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

}  // namespace teeinfer
