// ONNX model → teeinfer Graph (host side, untrusted input).
//
// The model is instantiated for concrete input shapes: dynamic dims (batch, spatial)
// come from `input_dims`; shape-computation subgraphs fold to constants. After import,
// `optimize_graph` (graph_passes.h) folds BatchNorm into Conv and fuses activations.
//
//   ImportOptions opt;
//   opt.input_dims["image"] = {1, 1, 28, 28};
//   Graph g = import_onnx_file("model.onnx", opt);
#pragma once

#include <map>
#include <string>

#include "common/graph.h"

namespace teeinfer {

struct ImportOptions {
  // Dims for graph inputs whose declared shape is dynamic (or to override it).
  std::map<std::string, Dims> input_dims;
  // Graph inputs bound to constant values (they then fold like initializers).
  std::map<std::string, Value> constant_inputs;
};

// `source` names the model in error messages. Throws Error(kBadModel / kUnsupported).
Graph import_onnx(const std::string& bytes, const std::string& source, const ImportOptions& options);
Graph import_onnx_file(const std::string& path, const ImportOptions& options);

// Declared input names and dims (-1 for a dynamic dim) without importing the graph.
std::vector<std::pair<std::string, Dims>> onnx_declared_inputs(const std::string& bytes, const std::string& source);

}  // namespace teeinfer
