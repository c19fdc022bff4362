// ONNX RNN, GRU and LSTM parameters in the form of the IR's Recurrent op (common/graph.h,
// RecurrentParams), one direction at a time: gates reordered to oneDNN's order, the input
// and recurrence biases summed, peepholes reordered. Pure functions of constants, run at
// import (pack time), so the enclave reads the weights as they are.
//
//   Value w = recurrent_gate_rows(onnx_w, 0, RecurrentCell::kLstm, hidden, "W", budget);
#pragma once

#include <string>

#include "common/graph.h"
#include "host/memory_budget.h"

namespace teeinfer {

// Direction `direction` of an ONNX W [D, G*H, K] or R [D, G*H, H] (float32): [G*H, K] with
// the gate blocks in oneDNN's order (LSTM: ONNX i,o,f,c becomes i,f,c,o; GRU and RNN keep
// theirs).
Value recurrent_gate_rows(const Value& w, int64_t direction, RecurrentCell cell, int64_t hidden,
                          const std::string& name, MemoryBudget& budget);

// Direction `direction` of an ONNX B [D, 2*G*H] (Wb then Rb; nullptr: all zeros) as the IR's
// [Gb*H]: Wb + Rb per gate in oneDNN's order; for GRU with linear_before_reset the
// recurrence bias of h stays apart, as a fourth gate.
Value recurrent_bias(const Value* b, int64_t direction, RecurrentCell cell, int64_t hidden, const std::string& name,
                     MemoryBudget& budget);

// An initial state the model leaves out: N*H zeros ([N, H]).
Value recurrent_zero_state(int64_t batch, int64_t hidden, const std::string& name, MemoryBudget& budget);

// Direction `direction` of ONNX LSTM peepholes P [D, 3*H] (i,o,f) in oneDNN's order i,f,o.
Value recurrent_peepholes(const Value& p, int64_t direction, int64_t hidden, const std::string& name,
                          MemoryBudget& budget);

}  // namespace teeinfer
