// Activations that exporters spell out as several element-wise ops, recognised and
// replaced by the one Eltwise function they compute, so that it fuses into the Conv, Gemm
// or MatMul before it as a post-op (one pass over the tensor instead of four or more):
//   hard-swish  x * Clip(x + 3, 0, 6) / 6   (Add, Clip, Mul, Div; or Mul by 1/6; or the
//               division before the product), and x * HardSigmoid(x, 1/6, 1/2)
//               -> HardSwish(x)   (PaddlePaddle's and TensorFlow's exports of MobileNetV3).
//   GELU        x * (1 + Erf(x / sqrt 2)) * 0.5   (PyTorch: Div, Erf, Add, Mul, Mul; or
//               Mul by 1/sqrt 2, the 0.5 applied first or divided by 2, in any order of
//               the factors) -> Gelu(x), oneDNN's eltwise_gelu_erf;
//               x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 x^3))) * 0.5 (x^3 as Pow(x, 3) or
//               x*x*x) -> GeluTanh(x), oneDNN's eltwise_gelu_tanh.
//   Swish       x * Sigmoid(x) (PyTorch's SiLU), x * Sigmoid(x * b) with a constant b
//               (PaddlePaddle's swish writes b = 1; CLIP's quick GELU b = 1.702)
//               -> Swish(x, b), oneDNN's eltwise_swish;
//   Mish        x * Tanh(Softplus(x)) (PyTorch's export before ONNX had Mish, opset 18)
//               -> Mish(x), oneDNN's eltwise_mish;
//   Max(x, c), Min(x, c) with a constant c -> Clip(x, c, inf), Clip(x, -inf, c) (Max(x, 0):
//               Relu), and a Min of a Max (or the reverse) one Clip(x, lo, hi) when lo <= hi.
// A pattern matches only when each intermediate value has only the pattern's nodes as
// readers and is not a graph output, and the constants are scalars (or all-equal tensors
// that broadcast to nothing larger than x) within float rounding of the exact values, so
// the result is the pattern's up to float rounding.
#pragma once

#include "common/graph.h"

namespace teeinfer {

struct ActivationPatternCounts {
  int hard_swish = 0;
  int gelu = 0;  // both forms
  int swish = 0;
  int mish = 0;
  int max_min = 0;  // Max/Min nodes that became Clip or Relu (a merged pair counts 2)
};

// Rewrites every match in place (the pattern's last node becomes the Eltwise node, reading
// x; the others are removed). Runs before optimize_graph's fusions.
ActivationPatternCounts fuse_activation_patterns(Graph& g);

}  // namespace teeinfer
