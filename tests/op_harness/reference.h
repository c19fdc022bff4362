// The harness's reference: every IR op as plain scalar loops in double precision,
// written from the op's definition (ONNX semantics plus the IR's fused parameters), with
// no code shared with the engine's kernels.
//
//   std::vector<RefTensor> want = reference_outputs(graph, inputs);   // graph-output order
#pragma once

#include <vector>

#include "common/graph.h"

namespace teeinfer::op_harness {

struct RefTensor {
  Dims dims;
  std::vector<double> data;
  // The largest magnitude computed on the way to these values: activations fused into a
  // node (Clip, Sigmoid, ...) can shrink its output far below its sums, whose float32
  // rounding is what a tolerance must allow for. 0: no larger than the values.
  double scale = 0;
};

// Runs the graph's nodes in order on `inputs` (one per graph input). Int8 weights are
// read dequantized (q * scale, as float32, what the fp32 model they stand for holds); a
// full-int8 node first rounds its input to u8 steps of its input scale, as the engine
// does. Throws std::runtime_error when a node's output dims differ from what its
// parameters imply (a shape-inference disagreement).
std::vector<RefTensor> reference_outputs(const Graph& g, const std::vector<std::vector<float>>& inputs);

}  // namespace teeinfer::op_harness
