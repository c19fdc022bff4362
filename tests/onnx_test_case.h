// Loads and runs one ONNX backend test case (model.onnx + test_data_set_*/{input,output}_N.pb).
#pragma once

#include <string>
#include <vector>

#include "common/graph.h"

namespace teeinfer::testing {

struct CaseResult {
  enum Kind { kPass, kFail, kUnsupported } kind = kPass;
  std::string mode;     // "runtime" (kernels) or "folded" (import-time folder)
  std::string message;  // why it failed / what is unsupported
  int compared = 0;     // outputs compared
};

// Op types the engine runs as kernels (the importer's table, host/onnx_ops.h), and those
// it only folds at import time.
bool is_runtime_op(const std::string& op);
bool is_fold_only_op(const std::string& op);
// The op types a model uses.
std::vector<std::string> model_op_types(const std::string& model_path);

// Runs every test_data_set of the case dir; compares with rtol/atol like ONNX's runner.
CaseResult run_onnx_case(const std::string& dir, double rtol, double atol);

}  // namespace teeinfer::testing
