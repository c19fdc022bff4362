#include <iterator>

#include "common/error.h"
#include "enclave/bands/band_lowering.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {
namespace {

// Each op's lowering function (common/ops.def), indexed by OpKind.
using LoweringFunction = void (*)(LoweringContext&, const Node&);
constexpr LoweringFunction kLoweringFunctions[] = {
#define TEEINFER_OP(kind, name, Params, shape_function, lowering_function, ...) &lowering_function,
#include "common/ops.def"
};
static_assert(std::size(kLoweringFunctions) == kOpCount);

}  // namespace

void lower_node(LoweringContext& l, const Node& n) {
  check_op_params(n);  // validate_graph did; this keeps std::get in the kernels safe on its own
  for (ValueId v : n.outputs)
    if (element_count(l.graph().value(v).dims, l.graph().value(v).name) == 0)
      throw Error(ErrorCode::kUnsupported, n.onnx_op + " node '" + n.name + "': empty tensors are not supported");
  if (l.spills().spills_at(n)) return lower_spilled_bands(l, n);
  kLoweringFunctions[static_cast<size_t>(n.op)](l, n);
}

}  // namespace teeinfer
