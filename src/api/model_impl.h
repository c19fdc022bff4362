// What a public teeinfer::Model holds (include/teeinfer/teeinfer.h): a parsed ONNX model,
// instantiated for concrete input dims by each Session that uses it, or what is needed to
// open a sealed model again for each Session (its own loader: sessions share no
// decryption state).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/graph.h"
#include "enclave/sealed_model.h"
#include "host/file_host.h"
#include "host/onnx_import.h"
#include "teeinfer/teeinfer.h"

namespace teeinfer {

// A sealed model opened through the enclave's loader, with the host it reads from.
struct OpenedSealedModel {
  std::unique_ptr<FileHost> host;
  std::unique_ptr<SealedModel> model;
};
OpenedSealedModel open_sealed(const std::string& path, KeyProvider& keys, const OpenOptions& options);

struct Model::Impl {
  std::string path;
  std::shared_ptr<OnnxModel> onnx;  // ONNX: parsed, not yet instantiated
  OpenedSealedModel sealed;         // sealed: metadata (each Session opens its own)
  KeyProvider* keys = nullptr;      // sealed: not owned
  OpenOptions options;
  std::vector<TensorInfo> inputs, outputs;    // as declared
  std::vector<Model::ShapeProfile> profiles;  // sealed
  std::vector<Tensor> bound_inputs;           // sealed
  std::string description;
  SealedInfo sealed_info;
};

// The name, dtype and dims of values `ids` of `g` (a graph's inputs or outputs).
std::vector<TensorInfo> tensor_infos(const Graph& g, const std::vector<ValueId>& ids);

// The sealed model's shape profile whose inputs have `input_dims` (those given; "" names
// a model's only input), or the first when none are given. Throws kBadInput naming the
// profiles when none matches.
size_t choose_profile(const Model::Impl& m, const std::map<std::string, Dims>& input_dims);

// An ONNX model's inputs as declared (dims -1 where dynamic), with their dtypes.
std::vector<TensorInfo> onnx_input_infos(const OnnxModel& onnx);
// Inputs bound to values (SessionOptions/PackOptions::input_values), checked: integer or
// bool, a few values, named inputs of the model. Throws kBadArgument.
std::map<std::string, Value> bound_values(const std::vector<Tensor>& values, const std::vector<TensorInfo>& inputs,
                                          const std::string& source);
// A run's given tensor for a bound input: must equal the bound value (throws kBadInput).
void check_bound_input_given(const Tensor& bound, const Tensor& given);

// An ONNX model's graph for concrete input dims (given by name; the rest as declared, a
// dynamic leading dim as 1) and bound inputs, imported and optimised; `description` says
// what the passes did.
std::shared_ptr<const Graph> instantiate(const Model::Impl& m, const std::map<std::string, Dims>& input_dims,
                                         std::string* description, const std::map<std::string, Value>& bound = {});

}  // namespace teeinfer
