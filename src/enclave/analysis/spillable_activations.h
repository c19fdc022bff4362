// Values that may leave the arena band by band: activations kept sealed in host memory
// (encrypted activation spill), and graph outputs written to the host as they are made.
#pragma once

#include <vector>

#include "common/graph.h"

namespace teeinfer {

// By ValueId: made by a node that can run in bands (a Conv/Pool, a channel Concat, a
// same-shape Binary, a oneDNN element-wise function, a Resize keeping N and C:
// analysis/banded_ops.h), read only as such a node's banded input (a Conv/Pool's data
// input or fused residual, any input of the others), 4-D, not a graph input or output
// (the nodes next to it run in bands: bands/spilled_bands.cpp, bands/spilled_row_ops.cpp).
std::vector<bool> spillable_activations(const Graph& g);

// By ValueId: the graph outputs that can leave the enclave band by band
// (LoweringOptions::outputs_in_bands): 4-D float32, listed once among the outputs, made
// by a node that can run in bands and read by later nodes, if at all, only as banded
// inputs (such an output must then be spilled too, so that they read it back in bands).
std::vector<bool> outputs_leaving_in_bands(const Graph& g);

}  // namespace teeinfer
