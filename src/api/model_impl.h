// What a public teeinfer::Model holds (include/teeinfer/teeinfer.h): the imported graph of
// an ONNX model, or what is needed to open a sealed one again for each Session (its own
// loader, so sessions share no decryption state).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/graph.h"
#include "enclave/sealed_model.h"
#include "host/file_host.h"
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
  std::shared_ptr<const Graph> graph;  // ONNX: the instantiated, optimised graph
  OpenedSealedModel sealed;            // sealed: metadata (each Session opens its own)
  KeyProvider* keys = nullptr;         // sealed: not owned
  OpenOptions options;
  std::vector<TensorInfo> declared_inputs, outputs;
  std::string description;
  SealedInfo sealed_info;

  const Graph& g() const { return sealed.model ? sealed.model->graph() : *graph; }
};

}  // namespace teeinfer
