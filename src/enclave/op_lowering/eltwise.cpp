// A standalone element-wise node (common/eltwise_ops.def): the oneDNN eltwise steps of its
// function, in the layout its input already has.
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

void lower_eltwise(LoweringContext& l, const Node& n) {
  const auto& p = std::get<EltwiseParams>(n.params);
  Slot src = l.input_as_is(n.inputs[0]);
  Slot dst = l.output(n.outputs[0], src.md);
  l.add_eltwise(n.name, p, src, dst);
}

}  // namespace teeinfer
