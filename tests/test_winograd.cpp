// Winograd convolutions: chosen only for eligible 3x3 stride-1 fp32 convs with resident
// weights, measured once per distinct convolution, within tolerance of the direct kernel,
// and the budget planner keeps its guarantee (arena and peak <= budget) and its minimum
// (never above the direct-only minimum) with Winograd allowed.
#include <gtest/gtest.h>

#include <chrono>

#include "enclave/budget_planner.h"
#include "enclave/enclave_session.h"
#include "enclave/lowering/conv_algorithm.h"
#include "enclave/op_lowering/conv_winograd.h"
#include "enclave/weight_source.h"
#include "host/model_loader.h"
#include "host/npy.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

const std::string kModels = std::string(TEEINFER_SOURCE_DIR) + "/tests/models/";

uint64_t host_clock() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

int winograd_steps(const EnclaveSession& s) {
  int n = 0;
  for (const StepInfo& i : s.steps()) n += i.impl.find("wino") != std::string::npos;
  return n;
}

struct Loaded {
  HostTensor x;
  Graph g;
};

Loaded load(const std::string& name) {
  HostTensor x = read_npy(kModels + name + ".input.npy");
  Graph g = load_onnx_model(kModels + name + ".onnx", {{"input", x.dims}});
  return {std::move(x), std::move(g)};
}

TEST(WinogradChoice, OnlyEligibleConvolutionsAndNoneWhenDirect) {
  if (!winograd_kernels_exist()) GTEST_SKIP() << "oneDNN has no Winograd kernel on this CPU (AVX-512 only)";
  Loaded m = load("vgg16_small");
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  EXPECT_TRUE(choose_winograd(m.g, engine, WinogradPolicy::kNever).empty());
  auto everywhere = choose_winograd(m.g, engine, WinogradPolicy::kWherePossible);
  ASSERT_FALSE(everywhere.empty()) << "vgg16_small has 3x3 stride-1 convolutions";
  for (auto [node, impl] : everywhere) {
    EXPECT_TRUE(winograd_eligible(m.g, m.g.nodes[node])) << m.g.nodes[node].name;
    EXPECT_NE(impl.find("wino"), std::string::npos) << impl;
  }
  EXPECT_TRUE(choose_winograd(m.g, engine, WinogradPolicy::kMeasured).empty()) << "no clock: nothing measured";
  for (auto [node, impl] : choose_winograd(m.g, engine, WinogradPolicy::kWherePossible, {}, 64 << 10)) {
    const Value& w = m.g.value(m.g.nodes[node].inputs[1]);
    EXPECT_LE(2 * byte_size(w.dtype, w.dims, w.name), size_t{64} << 10) << "its Winograd weights cannot fit 64 KiB";
  }
  EXPECT_LT(choose_winograd(m.g, engine, WinogradPolicy::kWherePossible, {}, 64 << 10).size(), everywhere.size());
  for (auto [node, impl] : choose_winograd(m.g, engine, WinogradPolicy::kMeasured, host_clock))
    EXPECT_EQ(everywhere.at(node), impl) << "a measured choice is one of the eligible convolutions' kernels";
}

TEST(WinogradChoice, MeasuresEachDistinctConvolutionOnce) {
  Loaded m = load("resnet18_small");
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  size_t before = winograd_measurements();
  auto first = choose_winograd(m.g, engine, WinogradPolicy::kMeasured, host_clock);
  size_t measured = winograd_measurements() - before;
  size_t eligible = 0;
  for (const Node& n : m.g.nodes) eligible += winograd_eligible(m.g, n);
  EXPECT_GT(measured, 0u);
  EXPECT_LT(measured, eligible) << "ResNet's blocks repeat their convolutions: each shape is timed once";
  auto second = choose_winograd(m.g, engine, WinogradPolicy::kMeasured, host_clock);
  EXPECT_EQ(winograd_measurements() - before, measured) << "the second plan reuses the measurements";
  EXPECT_EQ(first, second);
}

// A hostile model may declare a 3x3 conv on a huge image: timing it would need plain
// memory for its activations before any budget is checked, so it is not measured (direct).
TEST(WinogradChoice, DoesNotMeasureConvolutionsTooLargeToTime) {
  if (!winograd_kernels_exist()) GTEST_SKIP() << "oneDNN has no Winograd kernel on this CPU (AVX-512 only)";
  std::mt19937 rng(7);
  Graph g = conv_chain_graph(1, 16, 16384, rng);  // a 16 GiB input
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  ASSERT_EQ(choose_winograd(g, engine, WinogradPolicy::kWherePossible).size(), 1u) << "eligible, with a kernel";
  EXPECT_TRUE(choose_winograd(g, engine, WinogradPolicy::kMeasured, host_clock).empty());
}

class WinogradPlanner : public ::testing::TestWithParam<std::string> {};

// With Winograd allowed: unlimited, every eligible conv with a kernel uses it; at the
// minimum (never above the direct-only one) and between, the plan fits, streamed weights
// are never transformed, and outputs stay within Winograd's tolerance of direct.
TEST_P(WinogradPlanner, EveryFeasibleBudgetFitsWithWinogradAllowed) {
  if (!winograd_kernels_exist()) GTEST_SKIP() << "oneDNN has no Winograd kernel on this CPU (AVX-512 only)";
  Loaded m = load(GetParam());
  NativePlatform native;
  EnclaveSession direct(m.g, native);
  auto want = direct.run({m.x.view("input")})[0].data;
  EnclaveOptions wino;
  wino.winograd = WinogradPolicy::kWherePossible;
  EnclaveSession unlimited(m.g, native, wino);
  EXPECT_GT(winograd_steps(unlimited), 0);
  EXPECT_LE(max_relative_diff(unlimited.run({m.x.view("input")})[0].data, want), 1e-4f);

  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  InlineConstants constants(m.g);
  BudgetOptions bo = budget_options(m.g, engine, constants, wino);
  ASSERT_FALSE(bo.lowering.winograd.empty());
  SearchStats with, without;
  size_t least = minimum_budget(m.g, engine, constants, bo, &with);
  size_t least_direct = minimum_budget(m.g, engine, constants, budget_options(m.g, engine, constants, {}), &without);
  EXPECT_GT(with.probes, without.probes) << "the Winograd configurations are searched too";
  EXPECT_LE(least, least_direct) << "allowing Winograd never raises the minimum budget";
  size_t all = unlimited.arena_bytes();
  EXPECT_GT(all, direct.arena_bytes()) << "Winograd-domain weights and blocked copies take more memory";
  EXPECT_THROW(plan_for_budget(m.g, engine, constants,
                               [&] {
                                 BudgetOptions b = bo;
                                 b.budget_bytes = least - 1;
                                 return b;
                               }()),
               Error);
  for (size_t budget : {least, (least + all) / 2, all - 1}) {
    EnclaveOptions o = wino;
    o.budget_bytes = budget;
    EnclaveSession s(m.g, native, o);
    auto got = s.run({m.x.view("input")})[0].data;
    EXPECT_LE(s.arena_bytes(), budget);
    EXPECT_LE(s.peak_bytes(), budget);
    EXPECT_LE(max_relative_diff(got, want), 1e-4f) << "budget " << budget;
    for (const auto& [node, how] : s.lowering().strategies()) {
      const Node& n = m.g.nodes[node];
      if (how.find("Winograd") != std::string::npos) {
        EXPECT_FALSE(s.lowering().is_streamed(n.inputs[1])) << n.name << ": a streamed weight in the Winograd domain";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SmallModels, WinogradPlanner, ::testing::Values("vgg16_small", "resnet18_small"));

}  // namespace
