// ONNX model → teeinfer Graph (host side, untrusted input).
//
// The model is instantiated for concrete input shapes: dynamic dims (batch, spatial)
// come from `input_dims`; shape-computation subgraphs fold to constants. After import,
// `optimize_graph` (graph_passes.h) folds BatchNorm into Conv and fuses activations.
//
//   ImportOptions opt;
//   opt.input_dims["image"] = {1, 1, 28, 28};
//   Graph g = OnnxModel::open("model.onnx").import(opt);
#pragma once

#include <onnx/onnx_pb.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/graph.h"
#include "host/memory_budget.h"

namespace teeinfer {

struct ImportOptions {
  // Dims for graph inputs whose declared shape is dynamic (or to override it).
  std::map<std::string, Dims> input_dims;
  // Graph inputs bound to constant values (they then fold like initializers).
  std::map<std::string, Value> constant_inputs;
  // The most bytes any one tensor may need, and all the constants the import holds
  // (initializers and folded ones) together; 0: default_memory_limit(the model's size).
  uint64_t max_memory = 0;
  // If set, receives the dims of every value the graph names (runtime tensors, constants,
  // aliases), as the importer instantiated them.
  std::map<std::string, Dims>* value_dims = nullptr;
};

// The parsed protobuf of an ONNX file, for tools that edit models (pruning). Throws
// Error(kIo / kBadModel).
onnx::ModelProto read_onnx_proto(const std::string& path);

// `source` names the model in error messages. Throws Error(kBadModel / kUnsupported, or
// kBudgetExceeded past options.max_memory).
Graph import_onnx(const std::string& bytes, const std::string& source, const ImportOptions& options);
// The same from a parsed model (the default memory limit follows its serialized size).
Graph import_onnx_proto(const onnx::ModelProto& model, const std::string& source, const ImportOptions& options);

// A model's graph inputs that are not initializers, with their declared dims (-1: dynamic).
std::vector<std::pair<std::string, Dims>> declared_inputs_of(const onnx::ModelProto& model);

// An ONNX file parsed once: its declared inputs, then the import. Large models are
// expensive to read and parse (a 528 MB VGG-16: seconds), so do it once.
//
//   OnnxModel m = OnnxModel::open("vgg16.onnx");
//   auto inputs = m.declared_inputs();   // dims -1 where dynamic
//   Graph g = m.import(options);
class OnnxModel {
 public:
  static OnnxModel open(const std::string& path);  // throws Error(kIo / kBadModel)
  // The same from bytes in memory; `source` names the model in messages.
  static OnnxModel from_bytes(std::string_view bytes, const std::string& source);
  OnnxModel(OnnxModel&&) noexcept;
  ~OnnxModel();
  std::vector<std::pair<std::string, Dims>> declared_inputs() const;
  Graph import(const ImportOptions& options);
  // The memory limit the import applies: `max_memory`, or the default for this file's size.
  uint64_t memory_limit(uint64_t max_memory) const;
  const onnx::ModelProto& proto() const;

 private:
  struct Impl;
  explicit OnnxModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace teeinfer
