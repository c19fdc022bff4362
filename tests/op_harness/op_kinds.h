// The op kinds the harness covers: the one place that lists the values of OpKind (and of
// the kinds inside its Eltwise, Binary and Pool families).
//
// Each list is checked at compile time against a switch over its enum. The harness is
// built with -Werror=switch and the switches have no default, so an enumerator added to
// graph.h without a line here fails the build; a line here without a generator or a
// reference fails OpHarnessCoverage.* at run time.
#pragma once

#include <array>
#include <cstddef>

#include "common/graph.h"

namespace teeinfer::op_harness {

constexpr int list_index(OpKind k) {
  switch (k) {
    case OpKind::kConv:
      return 0;
    case OpKind::kGemm:
      return 1;
    case OpKind::kMatMul:
      return 2;
    case OpKind::kBatchNorm:
      return 3;
    case OpKind::kEltwise:
      return 4;
    case OpKind::kBinary:
      return 5;
    case OpKind::kPool:
      return 6;
    case OpKind::kReshape:
      return 7;
    case OpKind::kTranspose:
      return 8;
    case OpKind::kConcat:
      return 9;
    case OpKind::kSoftmax:
      return 10;
    case OpKind::kLrn:
      return 11;
    case OpKind::kPad:
      return 12;
    case OpKind::kCast:
      return 13;
    case OpKind::kSlice:
      return 14;
    case OpKind::kGather:
      return 15;
    case OpKind::kTile:
      return 16;
    case OpKind::kResize:
      return 17;
    case OpKind::kConvTranspose:
      return 18;
    case OpKind::kDepthToSpace:
      return 19;
    case OpKind::kWhere:
      return 20;
    case OpKind::kReduce:
      return 21;
    case OpKind::kPRelu:
      return 22;
    case OpKind::kRecurrent:
      return 23;
    case OpKind::kLayerNorm:
      return 24;
    case OpKind::kArgMaxMin:
      return 25;
    case OpKind::kLogSoftmax:
      return 26;
  }
  return -1;
}

constexpr int list_index(EltwiseKind k) {
  switch (k) {
    case EltwiseKind::kRelu:
      return 0;
    case EltwiseKind::kLeakyRelu:
      return 1;
    case EltwiseKind::kClip:
      return 2;
    case EltwiseKind::kSigmoid:
      return 3;
    case EltwiseKind::kHardSigmoid:
      return 4;
    case EltwiseKind::kHardSwish:
      return 5;
    case EltwiseKind::kNeg:
      return 6;
    case EltwiseKind::kSqrt:
      return 7;
    case EltwiseKind::kTanh:
      return 8;
    case EltwiseKind::kExp:
      return 9;
    case EltwiseKind::kLog:
      return 10;
    case EltwiseKind::kErf:
      return 11;
    case EltwiseKind::kAbs:
      return 12;
    case EltwiseKind::kReciprocal:
      return 13;
    case EltwiseKind::kSoftplus:
      return 14;
    case EltwiseKind::kElu:
      return 15;
    case EltwiseKind::kSelu:
      return 16;
    case EltwiseKind::kFloor:
      return 17;
    case EltwiseKind::kCeil:
      return 18;
    case EltwiseKind::kRound:
      return 19;
    case EltwiseKind::kPow:
      return 20;
    case EltwiseKind::kGelu:
      return 21;
    case EltwiseKind::kGeluTanh:
      return 22;
    case EltwiseKind::kSin:
      return 23;
    case EltwiseKind::kCos:
      return 24;
    case EltwiseKind::kSign:
      return 25;
    case EltwiseKind::kSoftsign:
      return 26;
    case EltwiseKind::kThresholdedRelu:
      return 27;
    case EltwiseKind::kMish:
      return 28;
    case EltwiseKind::kSwish:
      return 29;
  }
  return -1;
}

constexpr int list_index(BinaryKind k) {
  switch (k) {
    case BinaryKind::kAdd:
      return 0;
    case BinaryKind::kSub:
      return 1;
    case BinaryKind::kMul:
      return 2;
    case BinaryKind::kDiv:
      return 3;
    case BinaryKind::kMax:
      return 4;
    case BinaryKind::kMin:
      return 5;
    case BinaryKind::kPow:
      return 6;
    case BinaryKind::kEqual:
      return 7;
    case BinaryKind::kGreater:
      return 8;
    case BinaryKind::kGreaterOrEqual:
      return 9;
    case BinaryKind::kLess:
      return 10;
    case BinaryKind::kLessOrEqual:
      return 11;
  }
  return -1;
}

constexpr int list_index(PoolKind k) {
  switch (k) {
    case PoolKind::kMax:
      return 0;
    case PoolKind::kAverage:
      return 1;
  }
  return -1;
}

inline constexpr std::array kOpKinds{
    OpKind::kConv,      OpKind::kGemm,      OpKind::kMatMul,  OpKind::kBatchNorm,     OpKind::kEltwise,
    OpKind::kBinary,    OpKind::kPool,      OpKind::kReshape, OpKind::kTranspose,     OpKind::kConcat,
    OpKind::kSoftmax,   OpKind::kLrn,       OpKind::kPad,     OpKind::kCast,          OpKind::kSlice,
    OpKind::kGather,    OpKind::kTile,      OpKind::kResize,  OpKind::kConvTranspose, OpKind::kDepthToSpace,
    OpKind::kWhere,     OpKind::kReduce,    OpKind::kPRelu,   OpKind::kRecurrent,     OpKind::kLayerNorm,
    OpKind::kArgMaxMin, OpKind::kLogSoftmax};
inline constexpr std::array kEltwiseKinds{
    EltwiseKind::kRelu,        EltwiseKind::kLeakyRelu,  EltwiseKind::kClip,     EltwiseKind::kSigmoid,
    EltwiseKind::kHardSigmoid, EltwiseKind::kHardSwish,  EltwiseKind::kNeg,      EltwiseKind::kSqrt,
    EltwiseKind::kTanh,        EltwiseKind::kExp,        EltwiseKind::kLog,      EltwiseKind::kErf,
    EltwiseKind::kAbs,         EltwiseKind::kReciprocal, EltwiseKind::kSoftplus, EltwiseKind::kElu,
    EltwiseKind::kSelu,        EltwiseKind::kFloor,      EltwiseKind::kCeil,     EltwiseKind::kRound,
    EltwiseKind::kPow,         EltwiseKind::kGelu,       EltwiseKind::kGeluTanh, EltwiseKind::kSin,
    EltwiseKind::kCos,         EltwiseKind::kSign,       EltwiseKind::kSoftsign, EltwiseKind::kThresholdedRelu,
    EltwiseKind::kMish,        EltwiseKind::kSwish};
inline constexpr std::array kBinaryKinds{
    BinaryKind::kAdd,  BinaryKind::kSub,        BinaryKind::kMul,   BinaryKind::kDiv,     BinaryKind::kMax,
    BinaryKind::kMin,  BinaryKind::kPow,        BinaryKind::kEqual, BinaryKind::kGreater, BinaryKind::kGreaterOrEqual,
    BinaryKind::kLess, BinaryKind::kLessOrEqual};
inline constexpr std::array kPoolKinds{PoolKind::kMax, PoolKind::kAverage};

// The list holds every kind the switch knows, in enum order: kinds[i] has value i, and
// the value after the last is no kind (a new enumerator with a case but no list entry
// fails here; one without a case fails the switch).
template <class Kind, size_t N>
constexpr bool lists_every_kind(const std::array<Kind, N>& kinds) {
  for (size_t i = 0; i < N; ++i)
    if (list_index(kinds[i]) != static_cast<int>(i) || static_cast<size_t>(kinds[i]) != i) return false;
  return list_index(static_cast<Kind>(N)) == -1;
}
static_assert(lists_every_kind(kOpKinds) && kOpKinds.size() == kOpCount,
              "tests/op_harness/op_kinds.h: add the new OpKind to kOpKinds");
static_assert(lists_every_kind(kEltwiseKinds) && kEltwiseKinds.size() == kEltwiseCount,
              "tests/op_harness/op_kinds.h: add the new EltwiseKind");
static_assert(lists_every_kind(kBinaryKinds), "tests/op_harness/op_kinds.h: add the new BinaryKind");
static_assert(lists_every_kind(kPoolKinds), "tests/op_harness/op_kinds.h: add the new PoolKind");

}  // namespace teeinfer::op_harness
