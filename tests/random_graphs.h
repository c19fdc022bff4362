// Helpers shared by the tests: seeded random constants and graphs, and comparison.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/graph.h"

namespace teeinfer {

// A float32 constant of `dims`, uniform in [-1, 1).
Value random_constant(const std::string& name, Dims dims, std::mt19937& rng);
// The same values as a float vector (for inputs).
std::vector<float> random_floats(const Dims& dims, std::mt19937& rng);
// A random chain of 2-4 Conv(+ReLU) nodes, sometimes ending in a 2x2 MaxPool, on one
// 4-D input "x"; *out_h is the height of its output.
Graph chain_graph(std::mt19937& rng, int64_t* out_h);
// A chain of `layers` 3x3 Conv+ReLU nodes, `channels` wide, on a {1,channels,size,size}
// input "x" (padding keeps the size): the shape of a deep plain network, for planner scaling.
Graph conv_chain_graph(int layers, int64_t channels, int64_t size, std::mt19937& rng);
// max |got - want| / max |want|.
float max_relative_diff(const std::vector<float>& got, const std::vector<float>& want);

}  // namespace teeinfer
