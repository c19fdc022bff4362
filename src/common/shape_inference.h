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
// Whether `c` is a row added to every row of `y`: {N} or {1, ..., 1, N} with N = y's last
// dim and no more dims than y (a MatMul's bias input).
bool is_row_bias(const Dims& c, const Dims& y);

// Largest kernel, stride, dilation or pad of a conv/pool window, and largest LRN size.
constexpr int64_t kMaxWindowParam = int64_t{1} << 20;

// Checks a conv/pool window's parameters, one per spatial dim: kernel, strides and
// dilations in [1, kMaxWindowParam], pads in [0, kMaxWindowParam]. Throws Error(kBadModel)
// naming `where` and the attribute. Empty pad lists are not checked (not yet known).
void check_window_params(const std::string& where, size_t spatial, const Dims& kernel, const Dims& strides,
                         const Dims& dilations, const Dims& pads_begin, const Dims& pads_end);

// Output size of one spatial dim of a conv/pool window (floor division). The parameters
// must pass check_window_params and `in` be a valid dim (at most kMaxDim).
int64_t window_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin,
                           int64_t pad_end);

}  // namespace teeinfer
