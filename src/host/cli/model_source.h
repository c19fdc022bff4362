// Opening a model for the CLI: an ONNX file (imported on the host) or a sealed .tee
// (opened by the enclave's loader through a FileHost). Either way: a graph for the
// EnclaveSession and the WeightSource that feeds it.
#pragma once

#include <memory>
#include <string>

#include "common/graph.h"
#include "enclave/sealed_model.h"
#include "host/file_host.h"
#include "host/key_file.h"
#include "host/onnx_import.h"

namespace teeinfer::cli {

bool is_sealed_file(const std::string& path);

// --min-version and --model-id as the sealed loader's options (the id parsed from hex).
SealedLoadOptions sealed_load_options(uint64_t min_version, const std::string& model_id);
// --model-id pins a sealed model; with an ONNX model it would silently check nothing.
void refuse_model_id_for_onnx(const std::string& model, const std::string& model_id);

class ModelSource {
 public:
  // ONNX: imported for `input_dims` (name -> dims). Sealed: `key` is required.
  // `max_memory`: the host memory limit (0: the default for the file's size).
  static ModelSource onnx(OnnxModel& model, const std::string& input_name, const Dims& input_dims,
                          uint64_t max_memory = 0);
  static ModelSource sealed(const std::string& path, const std::string& key, const SealedLoadOptions& pinning);

  const Graph& graph() const { return sealed_ ? sealed_->graph() : *graph_; }
  WeightSource* weights() { return sealed_ ? static_cast<WeightSource*>(sealed_.get()) : nullptr; }
  const SealedModel* sealed_model() const { return sealed_.get(); }
  std::string description;  // for the run summary

 private:
  std::unique_ptr<Graph> graph_;
  std::unique_ptr<FileHost> host_;
  std::unique_ptr<KeyFile> keys_;
  std::unique_ptr<SealedModel> sealed_;
};

}  // namespace teeinfer::cli
