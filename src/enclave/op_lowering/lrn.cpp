// LRN across channels, in the layout its input already has.
#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

void lower_lrn(LoweringContext& l, const Node& n) {
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

}  // namespace teeinfer
