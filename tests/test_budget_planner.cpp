// The budget planner: under any feasible budget the plan fits (arena and measured peak
// <= budget), outputs equal the unlimited plan's, weights stream only when needed, a
// budget below the minimum fails naming the minimum, and in the emulated EPC of the
// budget's size nothing is ever evicted.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "common/error.h"
#include "enclave/budget_planner.h"
#include "enclave/enclave_session.h"
#include "enclave/sealed_model.h"
#include "enclave/weight_source.h"
#include "host/file_host.h"
#include "host/key_file.h"
#include "host/model_loader.h"
#include "host/npy.h"
#include "host/packer.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"
#include "tee/sim/epc_region.h"

using namespace teeinfer;

namespace {

const std::string kModels = std::string(TEEINFER_SOURCE_DIR) + "/tests/models/";

class BudgetPlanner : public ::testing::TestWithParam<std::string> {};

TEST_P(BudgetPlanner, EveryFeasibleBudgetFitsAndMatchesTheUnlimitedPlan) {
  std::string stem = kModels + GetParam();
  HostTensor x = read_npy(stem + ".input.npy");
  Graph g = load_onnx_model(stem + ".onnx", {{"input", x.dims}});
  NativePlatform native;
  EnclaveSession unlimited(g, native);
  auto want = unlimited.run({x.view("input")})[0].data;
  InlineConstants inline_constants(g);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  size_t all = unlimited.arena_bytes();
  for (bool prefetch : {false, true}) {  // inline, or on the loader thread (more memory)
    BudgetOptions bo;
    bo.lowering.prefetch = prefetch;
    size_t min_budget = minimum_budget(g, engine, inline_constants, bo);
    ASSERT_LE(min_budget, all);
    for (size_t budget : {min_budget, (min_budget + all) / 2, all - 1}) {
      if (budget < min_budget) continue;
      EnclaveOptions o;
      o.budget_bytes = budget;
      o.prefetch_weights = prefetch;
      EnclaveSession s(g, native, o);
      auto got = s.run({x.view("input")})[0].data;
      EXPECT_LE(s.arena_bytes(), budget);
      EXPECT_LE(s.peak_bytes(), budget);
      if (budget < all) {  // it had to stream weights or band-fuse layers
        EXPECT_TRUE(s.streamed_bytes() > 0 || s.steps().size() != unlimited.steps().size()) << "budget " << budget;
      }
      EXPECT_LE(max_relative_diff(got, want), 1e-5f) << "budget " << budget << (prefetch ? ", prefetch" : "");
    }
  }
  EnclaveSession roomy(g, native, {.budget_bytes = all});
  EXPECT_EQ(roomy.streamed_bytes(), 0u) << "nothing streams when everything fits";
}

INSTANTIATE_TEST_SUITE_P(SmallModels, BudgetPlanner,
                         ::testing::Values("vgg16_small", "resnet18_small", "resnet50_small", "mobilenet_v2_small",
                                           "alexnet_small", "densenet121_small", "squeezenet1_1_small"));

TEST(BudgetPlannerErrors, BudgetBelowTheMinimumFailsNamingIt) {
  Graph g = load_onnx_model(std::string(TEEINFER_SOURCE_DIR) + "/models/fmnist_vgg.onnx", {{"image", {1, 1, 28, 28}}});
  InlineConstants w(g);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  size_t min_budget = minimum_budget(g, engine, w, {});
  NativePlatform platform;
  try {
    EnclaveSession s(g, platform, {.budget_bytes = min_budget - 1});
    FAIL() << "a budget one byte short of the minimum was accepted: min " << min_budget;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBudgetExceeded);
    EXPECT_NE(std::string(e.what()).find(std::to_string(min_budget)), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(EnclaveSession(g, platform, {.budget_bytes = min_budget}));
}

// A 1x1 Conv feeding a dilated AveragePool (rows dilated by 2, a top pad of 2): the
// planner's fused variants cut the pool's 16 output rows into bands of one, whose top band
// reads one input row, a pool oneDNN 2.6 refuses (the lowering computes it a row at a
// time). The minimum budget, which probes every variant, is found, and the model runs at
// it band-fused, as it does unlimited.
TEST(BudgetPlannerBands, DilatedAveragePoolPlansAndRunsAtTheMinimumBudget) {
  std::mt19937 rng(4);
  Graph g;
  ValueId x = g.add_value({"x", DType::kF32, {1, 4, 32, 32}, false, {}});
  g.inputs = {x};
  ValueId c = g.add_value({"conv.y", DType::kF32, {1, 16, 32, 32}, false, {}});
  g.nodes.push_back(Node{"conv",
                         "Conv",
                         OpKind::kConv,
                         {x, g.add_value(random_constant("w", {16, 4, 1, 1}, rng))},
                         {c},
                         ConvParams{{1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1, false, {}, {}}});
  ValueId y = g.add_value({"avg.y", DType::kF32, {1, 16, 16, 15}, false, {}});
  g.nodes.push_back(Node{"avg",
                         "AveragePool",
                         OpKind::kPool,
                         {c},
                         {y},
                         PoolParams{PoolKind::kAverage, {2, 2}, {2, 2}, {2, 2}, {2, 0}, {0, 0}, false, {0, 0}}});
  g.outputs = {y};
  validate_graph(g);
  std::vector<float> input = random_floats(g.value(x).dims, rng);
  NativePlatform native;
  auto run = [&](EnclaveSession& s) {
    return s.run({TensorView{DType::kF32, g.value(x).dims, input.data(), "x"}})[0].data;
  };
  EnclaveSession unlimited(g, native);
  std::vector<float> want = run(unlimited);
  InlineConstants w(g);
  size_t least = 0;
  ASSERT_NO_THROW(least = minimum_budget(g, dnnl::engine(dnnl::engine::kind::cpu, 0), w, {}));
  ASSERT_LT(least, unlimited.arena_bytes());
  EnclaveSession s(g, native, {.budget_bytes = least});
  EXPECT_LE(s.arena_bytes(), least);
  ASSERT_TRUE(s.lowering().strategies().count(1));
  EXPECT_NE(s.lowering().strategies().at(1).find("fused with"), std::string::npos) << s.lowering().strategies().at(1);
  EXPECT_LE(max_relative_diff(run(s), want), 1e-6f);
}

// Sealed weights streamed from the file at every run (row windows of whole chunks), in an
// emulated EPC exactly the budget's size: same outputs, and not one page evicted.
TEST(BudgetPlannerSealed, StreamsSealedWeightsWithoutEvictions) {
  std::string why;
  if (!EpcRegion::available(EpcRegion::Mechanism::kAuto, &why)) GTEST_SKIP() << "no pager mechanism: " << why;
  std::string stem = kModels + "alexnet_small";  // fully-connected layers: row streaming
  std::string dir = std::string(TEEINFER_BINARY_DIR) + "/tests/";
  HostTensor x = read_npy(stem + ".input.npy");
  Graph g = load_onnx_model(stem + ".onnx", {{"input", x.dims}});
  write_key_file(dir + "budget.key", generate_key(), /*overwrite=*/true);
  KeyFile keys(dir + "budget.key");
  SealOptions po;
  po.chunk_bytes = 16 * 1024;  // several rows per chunk on the FC layers
  pack_model(g, keys.key(), dir + "budget.tee", po);
  NativePlatform native;
  auto want = EnclaveSession(g, native).run({x.view("input")})[0].data;

  FileHost host(dir + "budget.tee");
  SealedModel sealed(host, keys);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  size_t least =
      minimum_budget(sealed.graph(), engine, sealed, {.load_scratch_bytes = sealed.scratch_bytes(), .staged = true});
  size_t budget = (least + EpcRegion::kPage - 1) / EpcRegion::kPage * EpcRegion::kPage;  // an EPC is whole pages
  SimPlatform sim(budget);
  EnclaveSession s(sealed.graph(), sim, {.budget_bytes = budget}, &sealed);
  sim.last_region()->reset_stats();
  for (int run = 0; run < 2; ++run) {
    auto got = s.run({x.view("input")})[0].data;
    EXPECT_LE(max_relative_diff(got, want), 1e-5f);
  }
  EXPECT_GT(s.streamed_bytes(), 0u);
  EXPECT_EQ(sim.last_region()->stats().evictions, 0u);
  EXPECT_LE(s.peak_bytes(), budget);
}

// The host swaps ciphertext under a running session: the streamed chunk fails
// authentication on the loader thread, run() reports it (no hang, no bad output), and
// once the file is restored the same session runs again.
TEST(BudgetPlannerSealed, TamperedStreamedChunkFailsTheRunCleanly) {
  std::string stem = kModels + "alexnet_small";
  std::string dir = std::string(TEEINFER_BINARY_DIR) + "/tests/";
  HostTensor x = read_npy(stem + ".input.npy");
  Graph g = load_onnx_model(stem + ".onnx", {{"input", x.dims}});
  write_key_file(dir + "tamper.key", generate_key(), /*overwrite=*/true);
  KeyFile keys(dir + "tamper.key");
  std::string path = dir + "tamper.tee";
  pack_model(g, keys.key(), path, {});
  FileHost host(path);
  SealedModel sealed(host, keys);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  NativePlatform native;
  for (bool prefetch : {false, true}) {
    BudgetOptions bo;
    bo.load_scratch_bytes = sealed.scratch_bytes();
    bo.staged = true;
    bo.lowering.prefetch = prefetch;
    size_t budget = minimum_budget(sealed.graph(), engine, sealed, bo);
    EnclaveOptions o;
    o.budget_bytes = budget;
    o.prefetch_weights = prefetch;
    EnclaveSession s(sealed.graph(), native, o, &sealed);
    ASSERT_GT(s.streamed_bytes(), 0u);
    auto want = s.run({x.view("input")})[0].data;

    // In place, as a hostile host would: the session's open file sees it.
    auto flip_byte = [&](std::streamoff from_end) {
      std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(-from_end, std::ios::end);
      char c = static_cast<char>(f.get());
      f.seekp(-from_end, std::ios::end);
      f.put(static_cast<char>(c ^ 1));
    };
    flip_byte(100);  // inside the last chunk: the last FC layer's
    try {
      s.run({x.view("input")});
      FAIL() << "a tampered streamed chunk was accepted (" << (prefetch ? "prefetch" : "inline") << ")";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBadModel) << e.what();
    }
    flip_byte(100);
    EXPECT_EQ(s.run({x.view("input")})[0].data, want) << (prefetch ? "prefetch" : "inline");
  }
}

// Planning is near-linear in the number of layers (issue #13: a 2,000-conv chain took
// 250 s). Asserted on counts: the probes (whole lowerings) every search makes stay a few
// dozen, each lowering about one step per layer, at every budget (ample, mid, the
// minimum, and below it), and the minimum and the plan agree.
TEST(BudgetPlannerScaling, TwoThousandLayerChainPlansInAFewDozenProbes) {
  constexpr int kLayers = 2000;
  std::mt19937 rng(21);
  Graph g = conv_chain_graph(kLayers, 8, 16, rng);
  InlineConstants w(g);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  SearchStats min_stats;
  size_t min_budget = minimum_budget(g, engine, w, {}, &min_stats);
  EXPECT_LE(min_stats.probes, 64u) << "the minimum enumerates O(log n) probes per configuration";
  EXPECT_LE(min_stats.lowered_steps, 64u * (kLayers + 8));
  size_t all = plan_for_budget(g, engine, w, {}).arena_bytes;
  ASSERT_LT(min_budget, all);
  for (size_t budget : {all, (min_budget + all) / 2, min_budget, min_budget - 1}) {
    SearchStats stats;
    BudgetOptions o;
    o.budget_bytes = budget;
    if (budget < min_budget) {
      EXPECT_THROW(plan_for_budget(g, engine, w, o, &stats), Error);
    } else {
      EXPECT_LE(plan_for_budget(g, engine, w, o, &stats).arena_bytes, budget);
    }
    EXPECT_LE(stats.probes, 2 * 64u) << "budget " << budget;
    EXPECT_LE(stats.lowered_steps, 2 * 64u * (kLayers + 8)) << "budget " << budget;
  }
}

}  // namespace
