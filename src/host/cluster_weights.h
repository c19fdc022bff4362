// Weight clustering (`pack --cluster N`, Deep Compression style): the int8 values of
// each int8 weight are snapped to N shared values (1-D k-means over the tensor's value
// histogram), so a chunk holds at most N distinct bytes and the palette4 codec (N <= 16)
// stores it in 4 bits per weight: half the bytes to decrypt. Lossy, on top of int8.
#pragma once

#include "common/graph.h"

namespace teeinfer {

// Clusters the int8 weights of g's fully-connected layers (and convolutions too with
// `conv_too`) to at most `levels` (2..255) values each; returns how many tensors.
// Fully-connected layers hold most of a CNN's weight bytes and tolerate it best (Deep
// Compression clusters them to 5 bits, convolutions to 8).
int cluster_int8_weights(Graph& g, int levels, bool conv_too = false);

// The k-means centres (sorted, rounded to int8) for a histogram of int8 values.
std::vector<int8_t> cluster_centres(const std::vector<uint64_t>& histogram_by_value_plus_128, int levels);

}  // namespace teeinfer
