// Band-fused chains: Conv/Pool nodes [first, last] that can be computed band by band
// through all of them (bands/band_chain.cpp), so only a band of each intermediate
// activation is ever in the arena. The budget planner picks among them.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "common/graph.h"

namespace teeinfer {

// Chains of 2 to kMaxFusedNodes nodes that can be fused ([first, last] node indices), each
// ending at its first pool.
constexpr size_t kMaxFusedNodes = 8;
std::vector<std::pair<size_t, size_t>> fusable_chains(const Graph& g);

}  // namespace teeinfer
