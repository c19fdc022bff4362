// Every parameter of a case graph as text, for failure messages: each node with all its
// attributes, each value it reads with dims and kind (input, constant, int8).
#pragma once

#include <string>

#include "common/graph.h"

namespace teeinfer::op_harness {

std::string describe_params(const OpParams& params);
std::string describe_graph(const Graph& g);

}  // namespace teeinfer::op_harness
