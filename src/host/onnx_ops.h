// The ONNX op types the importer converts at run time (host/onnx_ops.def and the
// element-wise functions of common/eltwise_ops.def), for the tools that need to know them:
// the channel pruner (each op's pruning role) and the ONNX conformance tests (which cases
// are in scope).
//
//   if (const RuntimeOnnxOp* op = find_runtime_onnx_op(node.op_type()))
//     if (op->pruning_role == PruningRole::kChannelwise) ...
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

#include "common/graph.h"

namespace teeinfer {

// What the channel pruner may do across an op, on its first input.
enum class PruningRole : uint8_t {
  kChannelwise,  // channel c stays channel c (element-wise on one tensor, an alias)
  kPool,         // channel c stays channel c (a pooling)
  kConvLike,     // reads the channels through its weight's input-channel axis (group 1)
  kOther,        // the pruner decides by the op's attributes (Pad, Concat, ...) or stops
};

// onnx_ops.def's ir_op for an alias: no IR node.
inline constexpr std::nullopt_t kNoNode = std::nullopt;

struct RuntimeOnnxOp {
  std::string_view op_type;     // "Conv"
  std::optional<OpKind> ir_op;  // the IR op its node becomes; nullopt: an alias
  PruningRole pruning_role;
  // Other IR ops some of its nodes become, one bit per OpKind (Clip with bounds computed at
  // run time, Pow with a tensor exponent: Binary; the quantized ops, which become several
  // float32 nodes: Binary, Eltwise, Reduce); 0: none.
  uint64_t other_ir_ops = 0;
  // Whether a node it becomes may be of op `k`.
  constexpr bool may_become(OpKind k) const { return ir_op == k || ((other_ir_ops >> static_cast<unsigned>(k)) & 1u); }
};
static_assert(kOpCount <= 64, "RuntimeOnnxOp::other_ir_ops has one bit per op");

// The other_ir_ops bits of `ops`.
constexpr uint64_t ir_op_bits(std::initializer_list<OpKind> ops) {
  uint64_t bits = 0;
  for (OpKind k : ops) bits |= uint64_t{1} << static_cast<unsigned>(k);
  return bits;
}

// All of them, in the importer's table order.
std::vector<RuntimeOnnxOp> runtime_onnx_ops();
// nullptr when the importer does not convert `op_type` at run time.
const RuntimeOnnxOp* find_runtime_onnx_op(std::string_view op_type);
bool is_runtime_onnx_op(std::string_view op_type);

}  // namespace teeinfer
