// ONNX backend conformance: every node test (and pytorch-converted test) in Debian's
// libonnx-testdata whose operators teeinfer supports runs here, one ctest case each.
// Cases outside inference semantics or outside the supported dtypes are listed in
// kExcluded with the reason; a listed case that starts passing fails, so the list stays
// honest.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "host/onnx_ops.h"
#include "onnx_test_case.h"

namespace fs = std::filesystem;
using teeinfer::testing::CaseResult;

namespace {

const char* kDataRoot = "/usr/share/libonnx-testdata/data";

const std::map<std::string, std::string>& excluded() {
  static const std::map<std::string, std::string> m = {
#include "onnx_conformance_exclusions.inc"
  };
  return m;
}

// A case is in scope when every op of its model is one teeinfer runs or folds.
std::vector<std::string> cases_in(const std::string& sub) {
  std::vector<std::string> out;
  fs::path root = fs::path(kDataRoot) / sub;
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::directory_iterator(root)) {
    auto ops = teeinfer::testing::model_op_types((e.path() / "model.onnx").string());
    bool supported = !ops.empty() && std::all_of(ops.begin(), ops.end(), [](const std::string& op) {
      return teeinfer::testing::is_runtime_op(op) || teeinfer::testing::is_fold_only_op(op);
    });
    if (supported) out.push_back(sub + "/" + e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class OnnxBackend : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxBackend, MatchesReference) {
  const std::string& id = GetParam();
  // Same tolerances as ONNX's own backend runner (onnx/backend/test/runner).
  CaseResult r = teeinfer::testing::run_onnx_case(std::string(kDataRoot) + "/" + id, 1e-3, 1e-7);
  std::string name = fs::path(id).filename().string();
  auto ex = excluded().find(name);
  if (ex != excluded().end()) {
    ASSERT_NE(r.kind, CaseResult::kPass) << id << " is listed as excluded (" << ex->second
                                         << ") but now passes: remove it from the list";
    GTEST_SKIP() << "excluded: " << ex->second << " [" << r.message << "]";
  }
  ASSERT_EQ(r.kind, CaseResult::kPass) << id << " (" << r.mode << "): " << r.message;
  EXPECT_GT(r.compared, 0);
  RecordProperty("mode", r.mode);
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  std::replace_if(
      s.begin(), s.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return s;
}

INSTANTIATE_TEST_SUITE_P(Node, OnnxBackend, ::testing::ValuesIn(cases_in("node")), test_name);
INSTANTIATE_TEST_SUITE_P(PytorchConverted, OnnxBackend, ::testing::ValuesIn(cases_in("pytorch-converted")), test_name);

TEST(OnnxBackendSuite, EveryRuntimeOpHasNodeTests) {
  // An op the importer converts (host/onnx_ops.def, common/eltwise_ops.def) is tested here
  // only through the backend's node tests: each must have some in scope.
  std::map<std::string, int> cases;
  for (const std::string& id : cases_in("node"))
    for (const std::string& op : teeinfer::testing::model_op_types(std::string(kDataRoot) + "/" + id + "/model.onnx"))
      ++cases[op];
  // Ops newer than Debian's test data (onnx 1.12, opset 17), each tested elsewhere (say where).
  const std::map<std::string, std::string> newer_than_the_data = {
      {"Gelu", "opset 20; tests/test_fusion_patterns.cpp (GeluPattern) compares it with its reference"},
      {"Mish",
       "opset 18; tests/test_op_tables.cpp runs its kernel against the reference and checks its importer "
       "entry"},
      {"Swish",
       "opset 24; tests/test_op_tables.cpp runs its kernel against the reference, tests/test_fusion_patterns.cpp "
       "(SwishPattern) the spellings exporters write"},
  };
  for (const teeinfer::RuntimeOnnxOp& op : teeinfer::runtime_onnx_ops())
    if (!newer_than_the_data.count(std::string(op.op_type)))
      EXPECT_GT(cases[std::string(op.op_type)], 0) << op.op_type << " has no ONNX node test in scope";
  for (const auto& [op, why] : newer_than_the_data)
    EXPECT_EQ(cases[op], 0) << op << " now has node tests: remove it from newer_than_the_data";
}

TEST(OnnxBackendSuite, FindsTheTestData) {
  // If the package is missing, the parameterised suites above would be silently empty.
  ASSERT_TRUE(fs::exists(kDataRoot)) << kDataRoot << " missing: install libonnx-testdata (tools/install-deps.sh)";
  EXPECT_GT(cases_in("node").size(), 150u);
  EXPECT_GT(cases_in("pytorch-converted").size(), 30u);
}

}  // namespace
