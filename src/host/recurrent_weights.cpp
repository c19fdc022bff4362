#include "host/recurrent_weights.h"

#include <cstring>
#include <vector>

#include "common/error.h"

namespace teeinfer {

namespace {

// For each gate in oneDNN's order, its block in ONNX's order.
std::vector<int64_t> onnx_gate_of(RecurrentCell cell) {
  if (cell == RecurrentCell::kLstm) return {0, 2, 3, 1};  // ONNX i,o,f,c; oneDNN i,f,c,o
  std::vector<int64_t> same(static_cast<size_t>(recurrent_gates(cell)));
  for (size_t i = 0; i < same.size(); ++i) same[i] = static_cast<int64_t>(i);
  return same;
}

Value float_tensor(const std::string& name, Dims dims, MemoryBudget& budget) {
  Value v;
  v.name = name;
  v.dtype = DType::kF32;
  v.dims = std::move(dims);
  v.is_constant = true;
  v.data.assign(budget.allocate(DType::kF32, v.dims, name), 0);
  return v;
}

const float* floats(const Value& v) {
  return reinterpret_cast<const float*>(v.data.data());
}

float* floats(Value& v) {
  return reinterpret_cast<float*>(v.data.data());
}

void expect(const Value& v, const Dims& dims, const std::string& role, int64_t direction) {
  if (!v.dims.empty() && (direction < 0 || direction >= v.dims[0]))
    throw Error(ErrorCode::kBadModel, role + " '" + v.name + "' has no direction " + std::to_string(direction));
  if (v.dtype != DType::kF32 || v.dims != dims)
    throw Error(ErrorCode::kBadModel, role + " '" + v.name + "' must be float32 " + dims_to_string(dims) + ", is " +
                                          dtype_name(v.dtype) + " " + dims_to_string(v.dims));
}

}  // namespace

Value recurrent_gate_rows(const Value& w, int64_t direction, RecurrentCell cell, int64_t hidden,
                          const std::string& name, MemoryBudget& budget) {
  const int64_t gates = recurrent_gates(cell);
  if (w.dims.size() != 3) throw Error(ErrorCode::kBadModel, "weight '" + w.name + "' must be 3-D");
  expect(w, {w.dims[0], gates * hidden, w.dims[2]}, "weight", direction);
  const int64_t k = w.dims[2], block = hidden * k;
  Value out = float_tensor(name, {gates * hidden, k}, budget);
  const float* src = floats(w) + direction * gates * block;
  std::vector<int64_t> from = onnx_gate_of(cell);
  for (int64_t g = 0; g < gates; ++g)
    std::memcpy(floats(out) + g * block, src + from[static_cast<size_t>(g)] * block,
                static_cast<size_t>(block) * sizeof(float));
  return out;
}

Value recurrent_bias(const Value* b, int64_t direction, RecurrentCell cell, int64_t hidden, const std::string& name,
                     MemoryBudget& budget) {
  const int64_t gates = recurrent_gates(cell);
  Value out = float_tensor(name, {recurrent_bias_gates(cell) * hidden}, budget);
  if (!b) return out;
  if (b->dims.size() != 2) throw Error(ErrorCode::kBadModel, "bias '" + b->name + "' must be 2-D");
  expect(*b, {b->dims[0], 2 * gates * hidden}, "bias", direction);
  const float* wb = floats(*b) + direction * 2 * gates * hidden;
  const float* rb = wb + gates * hidden;
  std::vector<int64_t> from = onnx_gate_of(cell);
  float* y = floats(out);
  for (int64_t g = 0; g < gates; ++g) {
    int64_t at = from[static_cast<size_t>(g)] * hidden;
    // GRU with linear_before_reset: h's recurrence bias is added inside r * (...), apart.
    bool apart = cell == RecurrentCell::kGruLinearBeforeReset && g == 2;
    for (int64_t o = 0; o < hidden; ++o) y[g * hidden + o] = wb[at + o] + (apart ? 0.f : rb[at + o]);
    if (apart)
      for (int64_t o = 0; o < hidden; ++o) y[3 * hidden + o] = rb[at + o];
  }
  return out;
}

Value recurrent_zero_state(int64_t batch, int64_t hidden, const std::string& name, MemoryBudget& budget) {
  return float_tensor(name, {batch, hidden}, budget);
}

Value recurrent_peepholes(const Value& p, int64_t direction, int64_t hidden, const std::string& name,
                          MemoryBudget& budget) {
  if (p.dims.size() != 2) throw Error(ErrorCode::kBadModel, "peepholes '" + p.name + "' must be 2-D");
  expect(p, {p.dims[0], 3 * hidden}, "peepholes", direction);
  Value out = float_tensor(name, {3 * hidden}, budget);
  const float* src = floats(p) + direction * 3 * hidden;
  const int64_t from[] = {0, 2, 1};  // ONNX i,o,f; oneDNN i,f,o
  for (int64_t g = 0; g < 3; ++g)
    std::memcpy(floats(out) + g * hidden, src + from[g] * hidden, static_cast<size_t>(hidden) * sizeof(float));
  return out;
}

}  // namespace teeinfer
