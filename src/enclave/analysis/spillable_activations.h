// Encrypted activation spill: the activations that may be kept sealed in host memory.
#pragma once

#include <vector>

#include "common/graph.h"

namespace teeinfer {

// By ValueId: made by a Conv/Pool, read only as a Conv/Pool input or a fused residual, 4-D,
// not a graph input or output (the nodes next to it run in bands: bands/spilled_bands.cpp).
std::vector<bool> spillable_activations(const Graph& g);

}  // namespace teeinfer
