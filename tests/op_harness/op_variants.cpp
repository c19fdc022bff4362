#include "op_harness/op_variants.h"

#include "op_harness/op_kinds.h"

namespace teeinfer::op_harness {

const char* binary_kind_name(BinaryKind k) {
  switch (k) {
    case BinaryKind::kAdd:
      return "Add";
    case BinaryKind::kSub:
      return "Sub";
    case BinaryKind::kMul:
      return "Mul";
    case BinaryKind::kDiv:
      return "Div";
    case BinaryKind::kMax:
      return "Max";
    case BinaryKind::kMin:
      return "Min";
    case BinaryKind::kPow:
      return "Pow";
    case BinaryKind::kEqual:
      return "Equal";
    case BinaryKind::kGreater:
      return "Greater";
    case BinaryKind::kGreaterOrEqual:
      return "GreaterOrEqual";
    case BinaryKind::kLess:
      return "Less";
    case BinaryKind::kLessOrEqual:
      return "LessOrEqual";
  }
  return "?";
}

const char* pool_kind_name(PoolKind k) {
  switch (k) {
    case PoolKind::kMax:
      return "Max";
    case PoolKind::kAverage:
      return "Average";
  }
  return "?";
}

std::vector<OpVariant> all_variants() {
  std::vector<OpVariant> out;
  for (OpKind op : kOpKinds) {
    OpVariant v;
    v.op = op;
    std::string base = op_name(op);
    if (op == OpKind::kEltwise) {
      for (EltwiseKind k : kEltwiseKinds) {
        v.eltwise = k;
        // (Gelu's two forms share their ONNX op type, which eltwise_name gives.)
        v.name = base + eltwise_name(k) + (k == EltwiseKind::kGeluTanh ? "Tanh" : "");
        out.push_back(v);
      }
    } else if (op == OpKind::kBinary) {
      for (BinaryKind k : kBinaryKinds) {
        v.binary = k;
        v.name = base + binary_kind_name(k);
        out.push_back(v);
      }
    } else if (op == OpKind::kPool) {
      for (PoolKind k : kPoolKinds) {
        v.pool = k;
        v.name = base + pool_kind_name(k);
        out.push_back(v);
      }
    } else {
      v.name = base;
      out.push_back(v);
    }
  }
  return out;
}

}  // namespace teeinfer::op_harness
