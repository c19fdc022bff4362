#include "host/cli/model_source.h"

#include <cstring>
#include <fstream>

#include "common/error.h"
#include "common/sealed_format.h"
#include "host/cli/option_checks.h"
#include "host/model_loader.h"

namespace teeinfer::cli {

bool is_sealed_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {};
  return f.read(magic, 8) && std::memcmp(magic, kSealedMagic, 8) == 0;
}

ModelSource ModelSource::onnx(OnnxModel& model, const std::string& input_name, const Dims& input_dims,
                              uint64_t max_memory) {
  ModelSource m;
  PassStats passes;
  m.graph_ = std::make_unique<Graph>(load_onnx_model(model, {{input_name, input_dims}}, &passes, max_memory));
  m.description = "ONNX, " + std::to_string(passes.batchnorms_folded) + " BatchNorm folded, " +
                  std::to_string(passes.activations_fused) + " activations and " +
                  std::to_string(passes.residual_adds_fused) + " residual adds fused";
  return m;
}

SealedLoadOptions sealed_load_options(uint64_t min_version, const std::string& model_id) {
  SealedLoadOptions o;
  o.min_version = min_version;
  if (!model_id.empty()) o.expected_model_id = parse_model_id(model_id, "--model-id");
  return o;
}

void refuse_model_id_for_onnx(const std::string& model, const std::string& model_id) {
  if (!model_id.empty())
    throw Error(ErrorCode::kBadArgument, "--model-id pins a sealed model; '" + model + "' is not one (pack it first)");
}

ModelSource ModelSource::sealed(const std::string& path, const std::string& key, const SealedLoadOptions& pinning) {
  if (key.empty()) throw Error(ErrorCode::kBadArgument, "'" + path + "' is a sealed model: give its key with --key");
  ModelSource m;
  m.host_ = std::make_unique<FileHost>(path);
  m.keys_ = std::make_unique<KeyFile>(key);
  m.sealed_ = std::make_unique<SealedModel>(*m.host_, *m.keys_, pinning);
  m.description = "sealed, version " + std::to_string(m.sealed_->header().model_version) + ", " +
                  std::to_string(m.sealed_->header().chunk_count) + " chunks";
  return m;
}

}  // namespace teeinfer::cli
