// Activations that exporters spell out as several element-wise ops, recognised and
// replaced by the one Eltwise function they compute, so that it fuses into the Conv, Gemm
// or MatMul before it as a post-op (one pass over the tensor instead of four):
//   hard-swish  x * Clip(x + 3, 0, 6) / 6   (Add, Clip, Mul, Div; or Mul by 1/6; or the
//               division before the product), and x * HardSigmoid(x, 1/6, 1/2)
//               -> HardSwish(x)   (PaddlePaddle's and TensorFlow's exports of MobileNetV3).
// A pattern matches only when each intermediate value has that one reader and is not a
// graph output, and the constants are scalars (or all-equal tensors that broadcast to
// nothing larger than x), so the result is the pattern's up to float rounding.
#pragma once

#include "common/graph.h"

namespace teeinfer {

// Rewrites every match in place (the pattern's last node becomes the Eltwise node, reading
// x; the others are removed); returns how many. Runs before optimize_graph's fusions.
int fuse_activation_patterns(Graph& g);

}  // namespace teeinfer
