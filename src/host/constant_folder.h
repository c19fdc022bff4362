// Evaluates, at import time, the ONNX ops exporters emit to compute shapes and small
// constants (Shape, Size, Gather, Slice, Split, Cast, Concat, Unsqueeze, Squeeze, Reshape,
// Flatten, arithmetic, comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual), logic
// (And, Or, Xor, Not), Where, Min, Max, Neg, Abs, Floor, Ceil, Sqrt, Range, Expand, Tile,
// Constant, ConstantOfShape, Identity, Dropout, Transpose, QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear).
//
// The engine instantiates a model for one input shape, so these ops always fold when
// their data inputs are constants; Shape and Size fold even on a runtime tensor. Bool and
// integer tensors exist only as constants (runtime tensors are float32): Where, the
// comparisons and the logic ops run only here.
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
#include "host/onnx_attrs.h"

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
// A Slice's reading of `data`: per dim, the first index, the step and the output length
// (0 for an empty slice), from the node's attributes (opset < 10) or its constant inputs
// in[1..4] (starts, ends, axes, steps; nullptr when absent).
struct SliceSpec {
  Dims starts, steps, sizes;
};
SliceSpec slice_spec(const OnnxAttrs& a, const Dims& data, const std::vector<const Value*>& in, int opset);
// A Split's output lengths along its axis (written to *axis): the `split` attribute (opset
// < 13) or constant input, num_outputs (opset 18), or equal parts for `outputs` outputs.
constexpr int kMaxSplitOutputs = 1 << 16;
std::vector<int64_t> split_sizes(const OnnxAttrs& a, const Dims& data, const Value* split, int outputs, int opset,
                                 int64_t* axis);
// Normalises a possibly negative axis against `rank`; throws naming `what`.
int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& what);

}  // namespace teeinfer
