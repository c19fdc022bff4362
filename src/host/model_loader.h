// Loading a model for inference on the host side: read the ONNX file, instantiate it
// for concrete input dims, run the graph passes.
//
//   auto specs = declared_inputs("m.onnx");             // dims, -1 where dynamic
//   Graph g = load_onnx_model("m.onnx", {{"image", {1, 1, 28, 28}}});
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/graph.h"
#include "host/graph_passes.h"

namespace teeinfer {

std::vector<std::pair<std::string, Dims>> declared_inputs(const std::string& path);

// Declared dims with dynamic ones filled: a leading dynamic dim (batch) becomes 1; any
// other dynamic dim throws kBadInput asking for --input-shape.
Dims resolve_input_dims(const std::string& input_name, Dims declared);

// Parses "1x3x224x224" (or "1,3,224,224").
Dims parse_dims(const std::string& text, const std::string& option);

Graph load_onnx_model(const std::string& path, const std::map<std::string, Dims>& input_dims,
                      PassStats* stats = nullptr);

}  // namespace teeinfer
