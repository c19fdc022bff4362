// A model repository on disk (Triton's layout):
//
//   DIR/<model>/config.json           optional: key, batching, secure-memory share, pinning
//   DIR/<model>/<version>/model.tee   a sealed model (or model.onnx), version a decimal number
//
// The highest version that holds a model file is served.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "teeinfer/teeinfer.h"

namespace teeinfer::serve {

// DIR/<model>/config.json. Every field is optional; unknown fields are refused (a typo
// must not silently change how a model is served).
struct ModelConfig {
  std::string key_file;                    // sealed models: the key file, relative to the model's directory
  int64_t max_batch = 0;                   // requests batched up to this (0: as the server's --max-batch allows)
  uint64_t budget_bytes = 0;               // this model's secure-memory share (0: planned with the others)
  uint64_t min_version = 0;                // sealed: refuse older model versions
  std::optional<ModelId> model_id;         // sealed: refuse another model sealed with the same key
  std::map<std::string, Dims> input_dims;  // ONNX: the dims to plan for (default: declared, batch as 1)
};

// Throws Error(kBadArgument) naming `path` and the field at fault.
ModelConfig parse_model_config(const std::string& text, const std::string& path);

// What the repository holds for one model name.
struct RepositoryEntry {
  std::string name;
  std::string dir;                    // DIR/<model>
  std::string version;                // the version to serve ("" if none holds a model file)
  std::string model_path;             // DIR/<model>/<version>/model.tee or model.onnx
  std::vector<std::string> versions;  // every version directory, ascending
};

// Model names are directory names of letters, digits, '_', '-' and '.' (not leading), at
// most 128 characters: they appear in URLs, metrics labels and logs.
bool valid_model_name(const std::string& name);

// The models under `dir`, by name. Throws Error(kIo) if `dir` is not a readable directory;
// a model directory that is not valid is still listed (version "" and no path), so it can
// be reported as not ready.
std::vector<RepositoryEntry> scan_repository(const std::string& dir);
// One model's entry (nullopt if DIR/<name> is not a directory).
std::optional<RepositoryEntry> scan_model(const std::string& dir, const std::string& name);

}  // namespace teeinfer::serve
