// libFuzzer target for the untrusted ONNX path of `plan`, `pack`, `run` and `prune`:
// bytes -> protobuf parse -> import (constant folding, shape inference) -> graph passes
// -> validate_graph, exactly as load_onnx_model does for a file; then, for a model that
// imports, the channel pruner on its protobuf (select, remove, the ONNX checker) as
// `teeinfer prune` does.
// Inputs are whole .onnx files (the seeds in corpus/fuzz_onnx_import/ are small models).
// Any teeinfer::Error is a clean rejection; a crash, leak or sanitizer report is a bug.
//
//   make fuzz FUZZ_SECONDS=600      # the long run (tests/fuzz/run_fuzz.sh)
#include <onnx/checker.h>

#include <cstdint>
#include <map>
#include <string_view>

#include "common/error.h"
#include "host/model_loader.h"
#include "host/onnx_import.h"
#include "host/pruning/channel_pruner.h"

using namespace teeinfer;

namespace {

// Well under libFuzzer's 2 GiB RSS limit, and fast: a model may use at most this much
// host memory (the CLI's default is at least 1 GiB; the checks are the same).
constexpr uint64_t kMaxMemory = uint64_t{64} << 20;

void prune(const onnx::ModelProto& imported) {
  onnx::ModelProto model = imported;
  PruneReport report = select_channels(model, PruneOptions{Grouping::kLayer, 0.5});
  if (report.units.empty()) return;
  remove_channels(model, report);
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception&) {  // `prune` reports this as an Error
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    OnnxModel model = OnnxModel::from_bytes(bytes, "fuzz.onnx");
    std::map<std::string, Dims> dims;
    for (const auto& [name, declared] : model.declared_inputs()) dims[name] = resolve_input_dims(name, declared);
    load_onnx_model(model, dims, nullptr, kMaxMemory);
    prune(model.proto());
  } catch (const Error&) {
  }
  return 0;
}
