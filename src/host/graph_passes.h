// Graph optimisations applied after import, before packing or running:
//   * BatchNorm following a Conv is folded into the Conv's weights and bias;
//   * Relu/LeakyRelu/Clip/Sigmoid/HardSigmoid/HardSwish after Conv/Gemm/MatMul become
//     fused post-ops;
//   * a residual Add of a Conv's output becomes the Conv's sum post-op;
//   * Add of a constant row (a Linear layer's bias) to a MatMul's output becomes the
//     MatMul's bias input, so the activation after it (GELU, Relu) fuses as a post-op;
//   * a BatchNorm (+Relu) reading only a channel Concat is applied by the Concat kernel;
//   * zero Pad of spatial dims before a Conv/AveragePool joins that op's padding;
//   * hard-swish written as Add/Clip/Mul/Div becomes one HardSwish, GELU written with Erf (or
//     Tanh) one Gelu, x * Sigmoid(x) one Swish, Max/Min with a constant a Clip (host/activation_patterns.h), which then
//     fuse like the other activations;
//   * LayerNorm written as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div (and Mul, Add by its
//     scale and bias) becomes one LayerNorm node (host/layer_norm_pattern.h);
//   * values nothing reads are dropped and ids renumbered.
// Each pass only fires when the intermediate tensor has a single reader and is not a
// graph output, so results are unchanged (up to float rounding of the folded weights).
#pragma once

#include <string>

#include "common/graph.h"

namespace teeinfer {

struct PassStats {
  int batchnorms_folded = 0;
  int activations_fused = 0;
  int pads_folded = 0;
  int residual_adds_fused = 0;
  int batchnorms_into_concat = 0;
  int activation_patterns_fused = 0;  // hard-swish patterns
  int gelu_patterns_fused = 0;
  int swish_patterns_fused = 0;
  int mish_patterns_fused = 0;
  int layer_norm_patterns_fused = 0;
  int max_min_clips = 0;  // Max/Min with a constant made Clip (or Relu)
  int matmul_biases_fused = 0;
  // Outputs of If nodes whose condition is computed at run time: Where nodes selecting
  // between both branches' outputs, both branches computed (host/onnx_import.cpp).
  int runtime_if_outputs = 0;
};
// "3 BatchNorm folded, 5 activations and 1 residual adds fused[, 2 hard-swish patterns
// ...][, 4 GELU patterns, 2 LayerNorm patterns fused][, 1 Max/Min with a constant made
// Clip][, 3 Swish patterns made one op][, 1 Mish patterns made one op][, 2 MatMul biases fused][, 1 If output selected
// at run time (both branches computed)]"
std::string describe(const PassStats& stats);

PassStats optimize_graph(Graph& g);

// Removes values no node or graph output references; renumbers ids.
void compact_graph(Graph& g);

}  // namespace teeinfer
