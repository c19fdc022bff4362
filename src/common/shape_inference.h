// Output shapes of IR nodes from their input shapes and parameters.
//
// Used by the ONNX importer (to give every value concrete dims) and by validate_graph
// in the enclave (to reject a manifest whose declared shapes are inconsistent).
//
//   Dims y = infer_output_dims(graph, node);   // throws Error(kBadModel) on mismatch
#pragma once

#include "common/graph.h"

namespace teeinfer {

// Dims of node.outputs[0]; every IR op has exactly one output.
Dims infer_output_dims(const Graph& g, const Node& node);

// numpy-style broadcast of two shapes; throws naming `what` when incompatible.
Dims broadcast_dims(const Dims& a, const Dims& b, const std::string& what);

// Output size of one spatial dim of a conv/pool window (floor division).
int64_t window_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin,
                           int64_t pad_end);

}  // namespace teeinfer
