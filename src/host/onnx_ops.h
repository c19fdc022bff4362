// The ONNX op types the importer converts at run time (host/onnx_ops.def and the
// element-wise functions of common/eltwise_ops.def), for the tools that need to know them:
// the channel pruner (each op's pruning role) and the ONNX conformance tests (which cases
// are in scope).
//
//   if (const RuntimeOnnxOp* op = find_runtime_onnx_op(node.op_type()))
//     if (op->pruning_role == PruningRole::kChannelwise) ...
#pragma once

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
  // Another IR op some of its nodes become (Clip with bounds computed at run time, Pow with
  // a tensor exponent: Binary); nullopt: none.
  std::optional<OpKind> other_ir_op = std::nullopt;
};

// All of them, in the importer's table order.
std::vector<RuntimeOnnxOp> runtime_onnx_ops();
// nullptr when the importer does not convert `op_type` at run time.
const RuntimeOnnxOp* find_runtime_onnx_op(std::string_view op_type);
bool is_runtime_onnx_op(std::string_view op_type);
// Whether a node of `op` may become IR op `ir`: its ir_op, its other_ir_op, or the data
// movement that delivers its outputs (RNN/GRU/LSTM: Slice, Reshape, Concat of Recurrent's
// packed output).
bool may_become(const RuntimeOnnxOp& op, OpKind ir);

}  // namespace teeinfer
