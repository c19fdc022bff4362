// Layer normalization spelled out as the ops exporters write (PyTorch before opset 17,
// TensorFlow), recognised and replaced by one LayerNorm node (oneDNN's layer
// normalization, one pass instead of eight element-wise and reduction ops):
//   mean = ReduceMean(x, last k axes), d = x - mean,
//   var = ReduceMean(Pow(d, 2) or d * d, the same axes),
//   y = d / Sqrt(var + epsilon) [* scale] [+ bias]
// with scale and bias constants holding one value per normalized element (or one value).
// It matches only when every intermediate value has only the pattern's nodes as readers and
// is not a graph output, both reductions keep their dims and cover the same trailing axes,
// and epsilon is a scalar constant.
#pragma once

#include "common/graph.h"

namespace teeinfer {

// Rewrites every match in place (the pattern's last node becomes the LayerNorm node,
// reading x; the others are removed); returns how many.
int fuse_layer_norm_patterns(Graph& g);

}  // namespace teeinfer
