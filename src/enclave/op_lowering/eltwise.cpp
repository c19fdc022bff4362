// A standalone element-wise node (common/eltwise_ops.def): the oneDNN eltwise steps of its
// function, in the layout its input already has.
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

void lower_eltwise(LoweringContext& l, const Node& n) {
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

}  // namespace teeinfer
