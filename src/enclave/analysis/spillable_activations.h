// Encrypted activation spill: the activations that may be kept sealed in host memory.
#pragma once

#include <vector>

#include "common/graph.h"

namespace teeinfer {

// By ValueId: made by a node that can run in bands (a Conv/Pool, a channel Concat, a
// same-shape Binary, a Resize keeping N and C: analysis/banded_ops.h), read only as such
// a node's banded input (a Conv/Pool's data input or fused residual, any input of the
// others), 4-D, not a graph input or output (the nodes next to it run in bands:
// bands/spilled_bands.cpp, bands/spilled_row_ops.cpp).
std::vector<bool> spillable_activations(const Graph& g);

}  // namespace teeinfer
