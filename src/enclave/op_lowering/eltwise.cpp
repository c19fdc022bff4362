// A standalone element-wise node (common/eltwise_ops.def): the oneDNN eltwise steps of its
// function, in the layout its input already has; or, for the functions oneDNN 2.6 has no
// algorithm for, or only an approximate one (NO_DNNL_ELTWISE: Log, Erf, Floor, Ceil, Sin,
// Cos, Sign, Softsign, ThresholdedRelu), a hand-written loop of the table's reference over
// the tensor, in its layout when that has no padding (plain, channels-last), else plain
// (a blocked layout's padding must stay zero, and cos(0) is not).
#include <cmath>

#include "common/error.h"
#include "enclave/op_lowering/op_lowering.h"

namespace teeinfer {

namespace {

// Multiversioned so the loops vectorise for AVX2/AVX-512 (floor/ceil become one instruction)
// without -march flags.
__attribute__((target_clones("avx512f", "avx2", "default"))) void hand_written_eltwise(const EltwiseParams& p,
                                                                                       const float* in, float* out,
                                                                                       int64_t count) {
  [[maybe_unused]] const float alpha = p.alpha, beta = p.beta;
  switch (p.kind) {
#define TEEINFER_ELTWISE(kind, onnx_op, alpha_attribute, beta_attribute, converter, reference, ...) \
  case EltwiseKind::kind:                                                                           \
    for (int64_t i = 0; i < count; ++i) {                                                           \
      const float x = in[i];                                                                        \
      out[i] = reference;                                                                           \
    }                                                                                               \
    return;
#include "common/eltwise_ops.def"
  }
}

}  // namespace

void lower_eltwise(LoweringContext& l, const Node& n) {
  const auto& p = std::get<EltwiseParams>(n.params);
  if (!eltwise_fusible(p.kind)) {
    eltwise_info(p.kind);  // throws Error(kBadModel) for a value outside EltwiseKind
    const Dims& dims = l.graph().value(n.outputs[0]).dims;
    int64_t count = element_count(dims, n.name);
    Slot src = l.input_as_is(n.inputs[0]);
    if (src.md.get_size() != static_cast<size_t>(count) * sizeof(float)) src = l.input(n.inputs[0], Layout::kPlain);
    Slot dst = l.output(n.outputs[0], src.md);
    l.add_custom(n.name, std::string("hand_written_") + eltwise_name(p.kind),
                 [p, count](const std::vector<void*>& ptr) {
                   hand_written_eltwise(p, static_cast<const float*>(ptr[0]), static_cast<float*>(ptr[1]), count);
                 },
                 {src, dst});
    return;
  }
  Slot src = l.input_as_is(n.inputs[0]);
  Slot dst = l.output(n.outputs[0], src.md);
  l.add_eltwise(n.name, p, src, dst);
}

}  // namespace teeinfer
