// Int8 quantization at pack time (`teeinfer pack --quantize fc|all [--calibrate ...]`).
//
// Weights: each Conv weight and each fully-connected weight (Gemm with a constant B read
// as transB, the layout PyTorch exports Linear in) becomes int8 with one float scale per
// output channel (Int8Weights in the node's params). Alone, that is weight-only int8: the
// enclave dequantizes a chunk or window at a time and computes in fp32, so 4x fewer
// weight bytes are decrypted. With activation ranges from a calibration set, nodes whose
// input is never negative also get an input scale and compute in int8 (u8 x s8 oneDNN
// kernels); the rest stay weight-only.
//
//   quantize_weights(g, QuantizeTarget::kAll);
//   set_input_scales(g, measure_input_ranges(g, calibration_batches));   // calibration.h
#pragma once

#include <map>

#include "common/graph.h"

namespace teeinfer {

enum class QuantizeTarget { kFullyConnected, kAll };

struct QuantizeCounts {
  int fully_connected = 0, conv = 0;
  int total() const { return fully_connected + conv; }
};
QuantizeCounts quantize_weights(Graph& g, QuantizeTarget target);

// The observed range of an activation over a calibration set.
struct ValueRange {
  float min = 0.f, max = 0.f;
};

// Gives every int8 node whose input range (by ValueId) is never negative the input scale
// max / 255 (full int8). Returns how many nodes compute in int8.
int set_input_scales(Graph& g, const std::map<ValueId, ValueRange>& ranges);

}  // namespace teeinfer
