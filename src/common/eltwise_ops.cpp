#include "common/eltwise_ops.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>
#include <string_view>

#include "common/error.h"

namespace teeinfer {
namespace {

constexpr EltwiseInfo kEltwiseInfo[] = {
#define TEEINFER_ELTWISE(kind, onnx_op, alpha, beta, converter, ...) \
  {onnx_op, alpha, beta, #converter != std::string_view("none")},
#include "common/eltwise_ops.def"
};
static_assert(std::size(kEltwiseInfo) == kEltwiseCount);

#define DNNL_ELTWISE(...) true
#define NO_DNNL_ELTWISE false
constexpr bool kFusible[] = {
#define TEEINFER_ELTWISE(kind, onnx_op, alpha, beta, converter, reference, first_step, ...) first_step,
#include "common/eltwise_ops.def"
};
#undef DNNL_ELTWISE
#undef NO_DNNL_ELTWISE
static_assert(std::size(kFusible) == kEltwiseCount);

bool known(EltwiseKind kind) {
  return static_cast<size_t>(kind) < kEltwiseCount;
}

}  // namespace

const EltwiseInfo& eltwise_info(EltwiseKind kind) {
  if (!known(kind))
    throw Error(ErrorCode::kBadModel, "unknown element-wise function " + std::to_string(static_cast<int>(kind)));
  return kEltwiseInfo[static_cast<size_t>(kind)];
}

const char* eltwise_name(EltwiseKind kind) {
  return known(kind) ? kEltwiseInfo[static_cast<size_t>(kind)].onnx_op : "?";
}

bool eltwise_fusible(EltwiseKind kind) {
  return known(kind) && kFusible[static_cast<size_t>(kind)];
}

float eltwise_reference(const EltwiseParams& p, float x) {
  const float alpha = p.alpha, beta = p.beta;
  switch (p.kind) {
#define TEEINFER_ELTWISE(kind, onnx_op, alpha_attribute, beta_attribute, converter, reference, ...) \
  case EltwiseKind::kind:                                                                           \
    return reference;
#include "common/eltwise_ops.def"
  }
  throw Error(ErrorCode::kBadModel, "unknown element-wise function " + std::to_string(static_cast<int>(p.kind)));
}

}  // namespace teeinfer
