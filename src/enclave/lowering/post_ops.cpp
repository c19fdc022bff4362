#include "enclave/lowering/post_ops.h"

#include <cfloat>
#include <cmath>
#include <string>

#include "common/error.h"

namespace teeinfer {

void append_eltwise(dnnl::post_ops& po, const EltwiseParams& p) {
  auto finite = [](float v) { return std::isinf(v) ? (v > 0 ? FLT_MAX : -FLT_MAX) : v; };
  // The oneDNN steps of each element-wise function: common/eltwise_ops.def.
#define DNNL_ELTWISE(alg, alpha, beta) po.append_eltwise(1.f, dnnl::algorithm::alg, alpha, beta)
  switch (p.kind) {
#define TEEINFER_ELTWISE(kind, onnx_op, alpha, beta, converter, reference, ...) \
  case EltwiseKind::kind:                                                       \
    __VA_ARGS__;                                                                \
    return;
#include "common/eltwise_ops.def"
  }
#undef DNNL_ELTWISE
  throw Error(ErrorCode::kBadModel, "unknown element-wise function " + std::to_string(static_cast<int>(p.kind)));
}

dnnl::primitive_attr attr_with(const PostOps& post_ops) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (!post_ops.empty()) {
    dnnl::post_ops po;
    for (const auto& p : post_ops) append_eltwise(po, p);
    attr.set_post_ops(po);
  }
  return attr;
}

}  // namespace teeinfer
