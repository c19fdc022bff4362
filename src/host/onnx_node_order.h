// The order in which the importer converts a graph's nodes: producers before consumers.
// The ONNX spec requires a graph's nodes to be listed topologically sorted, but exporters
// and converters do not always comply (a float16 converter appends the input Casts at the
// end) and ONNX Runtime sorts them itself, so the importer does too.
#pragma once

#include <onnx/onnx_pb.h>

#include <vector>

namespace teeinfer {

// Subgraphs (If's branches) nest at most this deep.
constexpr int kMaxSubgraphDepth = 16;

// The graph's nodes with every node after the nodes that produce its inputs (also those a
// node's subgraphs read from outside), otherwise in
// their listed order (a sorted graph comes back as listed). An input no node produces (a
// graph input, an initializer, or an undefined name the importer then reports) orders
// nothing. Throws Error(kBadModel) naming a node on a cycle.
std::vector<const onnx::NodeProto*> topological_order(const onnx::GraphProto& graph);

}  // namespace teeinfer
