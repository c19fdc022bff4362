// The arithmetic of ONNX's linear quantization (QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, opsets 10-18: uint8 and int8, per-tensor or per-axis scale and
// zero point), shared by the constant folder (which evaluates it on constants) and the
// importer (which lowers it, on runtime tensors, to float32 IR nodes computing the same
// values: a quantized runtime tensor is a float32 tensor holding the integers exactly).
//
//   QuantParam s = quant_param(scale, x.dims, axis, where, "y_scale");
//   float q = quantize_value(x, s.values[0], zp, quant_range(DType::kU8, where));
#pragma once

#include <string>
#include <vector>

#include "common/graph.h"
#include "host/memory_budget.h"

namespace teeinfer {

// The integers a quantized type holds: uint8 [0, 255], int8 [-128, 127]; any other type
// throws Error(kUnsupported) naming `where`.
struct QuantRange {
  float lo, hi;
};
QuantRange quant_range(DType type, const std::string& where);

// A scale or zero point read against the tensor x it applies to: one value (per tensor) or
// one per index of x's dim `axis` (per axis, opset 13+). `axis` is -1 per tensor.
struct QuantParam {
  std::vector<float> values;
  int64_t axis = -1;
  // The dims to broadcast it against x: {} per tensor, {count, 1, ..., 1} (rank(x) - axis)
  // per axis.
  Dims broadcast_dims(int64_t x_rank) const;
  float at(int64_t axis_index) const { return values[axis < 0 ? 0 : static_cast<size_t>(axis_index)]; }
};
// `p` is a 0-D or one-element tensor (per tensor) or a 1-D tensor of x.dims[axis] values;
// `axis_attr` is the node's axis attribute (negative counts from the end). Throws
// Error(kBadModel) naming `where` and `role` on anything else.
QuantParam quant_param(const Value& p, const Dims& x, int64_t axis_attr, const std::string& where, const char* role);
// A zero point's type must be uint8 or int8 (int32 for DequantizeLinear's int32 input).
// Its values are checked to lie in the type's range by construction (they are that type).

// saturate(round_half_to_even(x / scale) + zero_point), computed in float32 as ONNX does.
float quantize_value(float x, float scale, float zero_point, QuantRange range);

// DynamicQuantizeLinear's scale and zero point for a tensor whose values span [min, max]:
// the range is widened to include 0; scale = (max - min) / 255 (1 when that is 0, as ONNX
// Runtime does, so that an all-zero tensor quantizes to zeros instead of NaN); zero point =
// round_half_to_even(saturate(-min / scale)).
struct DynamicQuant {
  float scale, zero_point;
};
DynamicQuant dynamic_quant(float min, float max);

// The three ops on constants (the constant folder's entries). Results are charged to `budget`.
Value fold_quantize_linear(const Value& x, const Value& scale, const Value* zero_point, int64_t axis,
                           const std::string& name, const std::string& where, MemoryBudget& budget);
Value fold_dequantize_linear(const Value& x, const Value& scale, const Value* zero_point, int64_t axis,
                             const std::string& name, const std::string& where, MemoryBudget& budget);
// y (uint8), y_scale (float32 scalar), y_zero_point (uint8 scalar).
std::vector<Value> fold_dynamic_quantize_linear(const Value& x, const std::vector<std::string>& names,
                                                const std::string& where, MemoryBudget& budget);

// A float32 constant holding integers in [-128, 127] (a quantized weight minus its zero
// point) becomes int8 in place, so that it is sealed and decrypted at a quarter of the
// size; returns false, changing nothing, when a value does not fit.
bool narrow_to_int8(Value& v);

// The float32 values of an integer or float constant (a quantized weight, a zero point).
std::vector<float> float_values(const Value& v, const std::string& where);

}  // namespace teeinfer
