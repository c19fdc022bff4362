// Parameters and FLOPs per layer of an imported model, for pruning reports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/graph.h"

namespace teeinfer {

struct LayerCost {
  std::string name, op;
  int64_t params = 0;  // elements of the constants the node reads
  int64_t flops = 0;   // 2 x multiply-accumulates (Conv, Gemm, MatMul); 0 for the rest
};

// One entry per node that reads constants or multiplies (after BatchNorm folding the
// BN parameters are part of their Conv).
std::vector<LayerCost> layer_costs(const Graph& g);

}  // namespace teeinfer
