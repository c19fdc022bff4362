// Loading a model for inference on the host side: read the ONNX file, instantiate it
// for concrete input dims, run the graph passes.
//
//   OnnxModel m = OnnxModel::open("m.onnx");
//   Dims d = resolve_input_dims("image", m.declared_inputs()[0].second);  // batch 1
//   Graph g = load_onnx_model(m, {{"image", d}});
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/graph.h"
#include "host/graph_passes.h"
#include "host/onnx_import.h"

namespace teeinfer {

// Declared dims with dynamic ones filled: a leading dynamic dim (batch) becomes 1; any
// other dynamic dim throws kBadInput asking for --input-shape.
Dims resolve_input_dims(const std::string& input_name, Dims declared);

// The dims to instantiate a model for: `given` by input name (the name "" stands for a
// model's only input), the others as `declared` with a dynamic leading dim as 1. A name
// the model does not have is an error naming `source`.
std::map<std::string, Dims> instantiation_dims(const std::vector<std::pair<std::string, Dims>>& declared,
                                               const std::map<std::string, Dims>& given, const std::string& source);

// parse_dims ("1x3x224x224") is the public API's (teeinfer/teeinfer.h).

// `max_memory`: the host memory limit of ImportOptions (0: the default for the file).
// `bound`: graph inputs bound to values (ImportOptions::constant_inputs).
Graph load_onnx_model(const std::string& path, const std::map<std::string, Dims>& input_dims,
                      PassStats* stats = nullptr, uint64_t max_memory = 0,
                      const std::map<std::string, Value>& bound = {});
// The same, from an already opened model.
Graph load_onnx_model(OnnxModel& model, const std::map<std::string, Dims>& input_dims, PassStats* stats = nullptr,
                      uint64_t max_memory = 0, const std::map<std::string, Value>& bound = {});

// The --max-memory option: "" is 0 (the default limit), else a size like 4GiB (not 0).
uint64_t parse_max_memory(const std::string& text);

}  // namespace teeinfer
