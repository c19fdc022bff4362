// Evaluates, at import time, the ONNX ops exporters emit to compute shapes and small
// constants (Shape, Gather, Slice, Cast, Concat, Unsqueeze, Squeeze, Reshape, Flatten,
// arithmetic, Constant, ConstantOfShape, Identity, Dropout, Transpose).
//
// The engine instantiates a model for one input shape, so these ops always fold when
// their data inputs are constants; Shape folds even on a runtime tensor.
//
// The model is untrusted: every folder checks its inputs' dtypes, ranks, dims and data
// sizes (as shape inference would) before it reads them, and every result is charged to
// the import's MemoryBudget before its bytes are allocated.
//
//   if (is_foldable(node.op_type())) out = fold_node(node, inputs, opset, budget);
#pragma once

#include <onnx/onnx_pb.h>

#include <vector>

#include "common/graph.h"
#include "host/memory_budget.h"

namespace teeinfer {

bool is_foldable(const std::string& op_type);

// Folds `node`; `inputs[i]` is nullptr for an absent optional input. Shape takes only the
// dims of its input (data may be empty). Returns the node's outputs as constants.
std::vector<Value> fold_node(const onnx::NodeProto& node, const std::vector<const Value*>& inputs, int opset,
                             MemoryBudget& budget);

// A copy of constant `x` converted to `to` (as Cast does), its bytes charged to `budget`.
Value convert_constant(const Value& x, DType to, const std::string& name, MemoryBudget& budget);

// Reads an integer or float constant as int64 values (floats saturate, NaN reads as 0).
// Throws when its bytes do not match its dims.
std::vector<int64_t> to_i64s(const Value& v);

// A shape, axes or pads operand: a 0-D or 1-D int64/int32 constant of at most `max_count`
// values. Throws Error(kBadModel) naming `where` and `role` otherwise.
std::vector<int64_t> int_list(const Value& v, size_t max_count, const std::string& where, const char* role);

// ONNX Reshape target dims (0 copies the input dim unless allowzero, -1 is inferred).
Dims reshape_dims(const Dims& in, const std::vector<int64_t>& shape, bool allowzero, const std::string& what);
Dims flatten_dims(const Dims& in, int64_t axis, const std::string& what);
Dims squeeze_dims(const Dims& in, std::vector<int64_t> axes, const std::string& what);
Dims unsqueeze_dims(const Dims& in, std::vector<int64_t> axes, const std::string& what);
// Normalises a possibly negative axis against `rank`; throws naming `what`.
int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& what);

}  // namespace teeinfer
