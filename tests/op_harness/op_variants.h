// The units the harness sweeps: every op kind, and every kind within the Eltwise, Binary
// and Pool families (an EltwiseRelu and an EltwiseSigmoid are different kernels).
#pragma once

#include <string>
#include <vector>

#include "common/graph.h"

namespace teeinfer::op_harness {

struct OpVariant {
  OpKind op = OpKind::kConv;
  EltwiseKind eltwise = EltwiseKind::kRelu;  // for kEltwise
  BinaryKind binary = BinaryKind::kAdd;      // for kBinary
  PoolKind pool = PoolKind::kMax;            // for kPool
  std::string name;                          // "Conv", "EltwiseRelu", "BinaryDiv", "PoolAverage", ...
};

const char* binary_kind_name(BinaryKind k);  // "Add", ...
const char* pool_kind_name(PoolKind k);      // "Max", "Average"

// Every op kind of op_kinds.h, the families expanded into their kinds, in enum order.
std::vector<OpVariant> all_variants();

}  // namespace teeinfer::op_harness
