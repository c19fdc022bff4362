// The public C++ API (include/teeinfer/teeinfer.h), used as a library user would: this file
// includes nothing else of the project.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_runner.h"
#include "enclave/lowering/conv_algorithm.h"
#include "random_graphs.h"
#include "teeinfer/teeinfer.h"

namespace {

using teeinfer::CliResult;
using teeinfer::run_cli;

// Options as a user would fill them (designated initializers that skip fields warn under
// g++ 12's -Wextra).
teeinfer::SessionOptions budget_of(size_t budget) {
  teeinfer::SessionOptions o;
  o.budget_bytes = budget;
  return o;
}
teeinfer::SessionOptions sim_of(size_t budget, size_t epc) {
  teeinfer::SessionOptions o = budget_of(budget);
  o.platform = teeinfer::Platform::kSim;
  o.epc_bytes = epc;
  return o;
}

const std::string kSrc = TEEINFER_SOURCE_DIR;
const std::string kDemoModel = kSrc + "/models/fmnist_vgg.onnx";
const std::string kDemoImage = kSrc + "/models/sample_0_ankle_boot.png";

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "teeinfer_api_" + std::to_string(::getpid()) + "/";
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  teeinfer::Tensor demo_input(const teeinfer::Session& s) const {
    teeinfer::TensorInfo in = s.inputs().at(0);
    return teeinfer::load_image(kDemoImage, in.name, in.dims, teeinfer::Normalization::for_channels(in.dims.at(1)));
  }
  std::string dir_;
};

size_t argmax(const std::vector<float>& v) {
  return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// The number `teeinfer plan --json` prints for a key.
size_t cli_plan_number(const std::string& args, const std::string& key) {
  CliResult r = run_cli("plan " + args + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  size_t at = r.output.find("\"" + key + "\"");
  if (at == std::string::npos) {
    ADD_FAILURE() << key << " not in\n" << r.output;
    return 0;
  }
  return std::stoull(r.output.substr(r.output.find(':', at) + 1));
}

TEST_F(Api, OnnxModelRunsAndDescribesItself) {
  teeinfer::Model model = teeinfer::Model::open(kDemoModel);
  EXPECT_FALSE(model.sealed());
  ASSERT_EQ(model.inputs().size(), 1u);
  EXPECT_EQ(model.inputs()[0].dtype, teeinfer::DType::kF32);
  EXPECT_EQ(model.inputs()[0].dims.size(), 4u);
  teeinfer::Session session(model);
  EXPECT_EQ(session.inputs()[0].dims, (teeinfer::Dims{1, 1, 28, 28}));
  std::vector<teeinfer::Tensor> y = session.run({demo_input(session)});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(y[0].dims, (teeinfer::Dims{1, 10}));
  EXPECT_EQ(argmax(y[0].to_floats()), 9u) << "the bundled image is an ankle boot";
  EXPECT_EQ(session.counters().runs, 1u);
}

TEST_F(Api, FromBytesEqualsFromFile) {
  std::ifstream f(kDemoModel, std::ios::binary);
  std::stringstream bytes;
  bytes << f.rdbuf();
  teeinfer::Session a(teeinfer::Model::open(kDemoModel));
  teeinfer::Session b(teeinfer::Model::from_onnx(bytes.str(), "in-memory demo"));
  EXPECT_EQ(a.run({demo_input(a)})[0].bytes, b.run({demo_input(b)})[0].bytes);
}

// The minimum budget a Session reports is a real number, and the same one `plan()` and
// `teeinfer plan` report, for a plain and a sealed model.
TEST_F(Api, SessionMinimumBudgetEqualsPlanAndTheCommandLine) {
  teeinfer::Model onnx = teeinfer::Model::open(kDemoModel);
  teeinfer::Session unlimited(onnx);
  size_t least = unlimited.minimum_budget();
  EXPECT_GT(least, 0u);
  EXPECT_LT(least, unlimited.plan().arena_bytes) << "streaming must make the demo model fit below its full arena";
  EXPECT_EQ(unlimited.plan().min_budget_bytes, least);
  EXPECT_EQ(teeinfer::plan(onnx).min_budget_bytes, least);
  EXPECT_EQ(cli_plan_number(kDemoModel, "min_budget_bytes"), least);

  teeinfer::Session tight(onnx, budget_of(least));
  EXPECT_LE(tight.plan().arena_bytes, least);
  EXPECT_EQ(tight.minimum_budget(), least);

  std::string key_path = dir_ + "k.bin", sealed = dir_ + "m.tee";
  teeinfer::KeyFile::generate(key_path);
  teeinfer::KeyFile key(key_path);
  teeinfer::pack(kDemoModel, sealed, key);
  teeinfer::Session sealed_session(teeinfer::Model::open(sealed, &key));
  size_t sealed_least = sealed_session.minimum_budget();
  EXPECT_GT(sealed_least, 0u);
  EXPECT_EQ(cli_plan_number(sealed + " --key " + key_path, "min_budget_bytes"), sealed_least);
}

TEST_F(Api, SealedModelRunsInASmallEmulatedEpcLikeThePlainOne) {
  std::string key_path = dir_ + "k.bin", sealed = dir_ + "m.tee";
  teeinfer::KeyFile::generate(key_path);
  teeinfer::KeyFile key(key_path);
  teeinfer::PackOptions pack_options;
  pack_options.model_version = 3;
  teeinfer::PackResult packed = teeinfer::pack(kDemoModel, sealed, key, pack_options);
  EXPECT_GT(packed.chunks, 0u);
  EXPECT_EQ(teeinfer::read_sealed_info(sealed).model_version, 3u);

  teeinfer::OpenOptions pin;
  pin.min_version = 3;
  pin.model_id = packed.model_id;
  teeinfer::Model model = teeinfer::Model::open(sealed, &key, pin);
  EXPECT_TRUE(model.sealed());
  const size_t budget = size_t{1} << 20;
  // Bit-identical needs the same kernels: with no budget the plain session might measure
  // Winograd faster, which the 1 MiB plan (streamed weights) never uses.
  teeinfer::SessionOptions sim = sim_of(budget, budget), direct;
  sim.conv_algorithm = direct.conv_algorithm = teeinfer::ConvAlgorithm::kDirect;
  teeinfer::Session session(model, sim);
  teeinfer::Session plain(teeinfer::Model::open(kDemoModel), direct);
  teeinfer::Tensor x = demo_input(session);
  session.run({x});  // warm-up: the first run touches every arena page once
  teeinfer::Counters first = session.counters();
  EXPECT_EQ(first.faults, first.first_touches) << "the first run's faults are first touches only";
  session.reset_counters();
  std::vector<teeinfer::Tensor> y = session.run({x});
  // Streamed weights run other kernels (output-channel tiles): bit-identical where oneDNN's
  // reductions do not depend on the tile width (AVX-512), within float32 rounding elsewhere.
  EXPECT_LT(teeinfer::max_relative_diff(y[0].to_floats(), plain.run({x})[0].to_floats()), 1e-5f)
      << "sealed and plain runs";
  teeinfer::Counters c = session.counters();
  EXPECT_EQ(c.faults, 0u) << "the plan fits the EPC";
  EXPECT_GT(c.bytes_decrypted, 0u) << "weights are streamed and decrypted at every run";
  EXPECT_LE(c.arena_peak_bytes, budget);
  EXPECT_EQ(c.pager.empty(), false);
  EXPECT_GT(session.plan().streamed_bytes, 0u);
  const auto& steps = session.plan().steps;
  EXPECT_GT(std::count_if(steps.begin(), steps.end(), [](const auto& s) { return s.kind == "weight read"; }), 0)
      << "streamed weights are read by steps of their own kind";
}

TEST_F(Api, ErrorsHaveACodeAndNameWhatIsAtFault) {
  auto code_of = [](auto&& f) {
    try {
      f();
    } catch (const teeinfer::Error& e) {
      return e.code();
    }
    ADD_FAILURE() << "no error";
    return teeinfer::ErrorCode::kKernel;
  };
  EXPECT_EQ(code_of([&] { teeinfer::Model::open(dir_ + "missing.onnx"); }), teeinfer::ErrorCode::kIo);
  EXPECT_EQ(code_of([&] { teeinfer::Model::from_onnx("not a model", "junk"); }), teeinfer::ErrorCode::kBadModel);
  teeinfer::Model model = teeinfer::Model::open(kDemoModel);
  try {
    teeinfer::Session s(model, budget_of(1024));
    FAIL() << "1 KiB is below the minimum";
  } catch (const teeinfer::Error& e) {
    EXPECT_EQ(e.code(), teeinfer::ErrorCode::kBudgetExceeded);
    EXPECT_NE(std::string(e.what()).find("at least"), std::string::npos) << e.what();
  }
  try {
    teeinfer::Session s(model, sim_of(0, 100));
    FAIL() << "a 100-byte EPC";
  } catch (const teeinfer::Error& e) {
    EXPECT_EQ(e.code(), teeinfer::ErrorCode::kBadArgument);
    EXPECT_NE(std::string(e.what()).find("SessionOptions.epc_bytes"), std::string::npos) << e.what();
  }
  teeinfer::Session s(model);
  EXPECT_EQ(code_of([&] {
              s.run({teeinfer::Tensor::f32("wrong name", {1, 1, 28, 28}, std::vector<float>(784))});
            }),
            teeinfer::ErrorCode::kBadInput);
  EXPECT_EQ(code_of([&] { teeinfer::Tensor::f32("x", {2, 2}, {1.f}); }), teeinfer::ErrorCode::kBadInput);
}

// SessionOptions.conv_algorithm: kWinograd runs the demo's 3x3 convolutions on oneDNN's
// Winograd kernels (the plan says so), within Winograd's tolerance of kDirect; a value
// outside the enum is refused naming the field.
TEST_F(Api, WinogradConvolutionsMatchDirectOnesAndShowInThePlan) {
  teeinfer::Model model = teeinfer::Model::open(kDemoModel);
  teeinfer::SessionOptions direct, wino;
  direct.conv_algorithm = teeinfer::ConvAlgorithm::kDirect;
  wino.conv_algorithm = teeinfer::ConvAlgorithm::kWinograd;
  teeinfer::Session a(model, direct), b(model, wino);
  teeinfer::Tensor x = demo_input(a);
  teeinfer::Tensor ta = a.run({x})[0], tb = b.run({x})[0];
  ASSERT_EQ(ta.dims, tb.dims);
  std::vector<float> ya(ta.f32_data(), ta.f32_data() + ta.bytes.size() / 4),
      yb(tb.f32_data(), tb.f32_data() + tb.bytes.size() / 4);
  float scale = 1e-2f;
  for (float v : ya) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < ya.size(); ++i) EXPECT_NEAR(ya[i], yb[i], 1e-4f * scale) << i;
  int winograd_layers = 0;
  for (const auto& l : b.plan().layers) winograd_layers += l.strategy.find("Winograd") != std::string::npos;
  if (teeinfer::winograd_kernels_exist())
    EXPECT_GT(winograd_layers, 0);
  else
    EXPECT_EQ(winograd_layers, 0) << "oneDNN has no Winograd kernel on this CPU: every conv stays direct";
  for (const auto& l : a.plan().layers) EXPECT_EQ(l.strategy.find("Winograd"), std::string::npos) << l.node;
  // Each Winograd conv moves its input to the blocked layout and its output back.
  auto kinds = [](const teeinfer::PlanReport& p, const std::string& kind) {
    return std::count_if(p.steps.begin(), p.steps.end(), [&](const auto& s) { return s.kind == kind; });
  };
  EXPECT_EQ(kinds(b.plan(), "layout"), kinds(a.plan(), "layout") + 2 * winograd_layers);
  EXPECT_EQ(kinds(b.plan(), "weight read"), 0) << "nothing streams without a budget";
  teeinfer::SessionOptions bad;
  bad.conv_algorithm = static_cast<teeinfer::ConvAlgorithm>(7);
  try {
    teeinfer::Session s(model, bad);
    FAIL() << "conv_algorithm 7";
  } catch (const teeinfer::Error& e) {
    EXPECT_NE(std::string(e.what()).find("SessionOptions.conv_algorithm"), std::string::npos) << e.what();
  }
}

}  // namespace
