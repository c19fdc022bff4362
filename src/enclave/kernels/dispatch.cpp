#include "common/error.h"
#include "enclave/kernels/kernels.h"

namespace teeinfer {

void lower_node(Lowering& l, const Node& n) {
  for (ValueId v : n.outputs)
    if (element_count(l.graph().value(v).dims, l.graph().value(v).name) == 0)
      throw Error(ErrorCode::kUnsupported, n.onnx_op + " node '" + n.name + "': empty tensors are not supported");
  if (l.spills_at(n)) return lower_spilled_bands(l, n);
  switch (n.op) {
    case OpKind::kConv:
      return l.mode() == ExecutionMode::kUnmodified ? lower_conv_im2col(l, n) : lower_conv(l, n);
    case OpKind::kPool:
      return lower_pool(l, n);
    case OpKind::kGemm:
      return lower_gemm(l, n);
    case OpKind::kMatMul:
      return lower_matmul(l, n);
    case OpKind::kEltwise:
      return lower_eltwise(l, n);
    case OpKind::kBatchNorm:
      return lower_batchnorm(l, n);
    case OpKind::kLrn:
      return lower_lrn(l, n);
    case OpKind::kSoftmax:
      return lower_softmax(l, n);
    case OpKind::kBinary:
      return lower_binary(l, n);
    case OpKind::kReshape:
      return lower_reshape(l, n);
    case OpKind::kTranspose:
      return lower_transpose(l, n);
    case OpKind::kConcat:
      return lower_concat(l, n);
    case OpKind::kPad:
      return lower_pad(l, n);
  }
  throw Error(ErrorCode::kUnsupported, "node '" + n.name + "': unknown op");
}

}  // namespace teeinfer
