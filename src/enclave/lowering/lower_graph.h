// Lowering: turns an IR Graph into a LoweredPlan, the Steps (oneDNN primitives or plain
// C++ kernels) over arena buffers, with every buffer's size and lifetime for the
// MemoryPlanner. Each node goes to its op's lowering function (op_lowering/, through the
// table of common/ops.def), or to the band-wise lowering of bands/ when it is part of a
// fused chain or next to a spilled activation.
#pragma once

#include <dnnl.hpp>
#include <memory>

#include "common/graph.h"
#include "enclave/lowering/lowered_plan.h"

namespace teeinfer {

// `load_scratch_bytes`: extra arena the weight source needs while loading. `staged`:
// constants needing a layout change come through an arena staging buffer (sealed weights);
// otherwise they are reordered from where the source holds them.
std::unique_ptr<LoweredPlan> lower_graph(const Graph& g, const dnnl::engine& engine, LoweringOptions options = {},
                                         size_t load_scratch_bytes = 0, bool staged = false);

}  // namespace teeinfer
