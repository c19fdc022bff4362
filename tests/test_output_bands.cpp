// Graph outputs that leave the enclave band by band (LoweringOptions::outputs_in_bands):
// the node making one runs in bands and each band's rows are copied to the host's output
// buffer as soon as they are computed, so the output is never whole in the arena; one that
// a later node reads is spilled too. A conv chain at 256x256 with two outputs, one of them
// read by a later conv, sealed in a small emulated EPC: the outputs equal the plain run's,
// the minimum budget is below the bytes of the outputs (which every plan holding them
// whole needed, at the end of the run), a run at exactly that minimum works and a byte
// less is refused.
#include <gtest/gtest.h>

#include <random>

#include "common/error.h"
#include "common/shape_inference.h"
#include "enclave/analysis/spillable_activations.h"
#include "enclave/budget_planner.h"
#include "enclave/enclave_session.h"
#include "enclave/lowering/lower_graph.h"
#include "enclave/sealed_model.h"
#include "host/file_host.h"
#include "host/key_file.h"
#include "host/packer.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"
#include "tee/sim/epc_region.h"

using namespace teeinfer;

namespace {

ValueId add_node(Graph& g, Node n, const std::string& name) {
  n.outputs = {g.add_value({name, DType::kF32, infer_output_dims(g, n), false, {}})};
  g.nodes.push_back(n);
  return n.outputs[0];
}

ValueId conv(Graph& g, const std::string& name, ValueId x, int64_t oc, std::mt19937& rng) {
  ConvParams p;
  p.kernel = {3, 3};
  p.strides = {1, 1};
  p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {1, 1};
  p.post_ops.push_back({EltwiseKind::kRelu, 0.f, 0.f});
  int64_t c = g.value(x).dims[1];
  Node n{name,
         "Conv",
         OpKind::kConv,
         {x, g.add_value(random_constant(name + ".w", {oc, c, 3, 3}, rng)),
          g.add_value(random_constant(name + ".b", {oc}, rng))},
         {},
         p};
  return add_node(g, n, name + ".y");
}

// x {N,3,256,256} -> features (Conv 3->8, an output, also read by) -> head (Conv 8->4)
// -> mask (Sigmoid, an output): IS-Net's decoder stage and side output, shrunk.
Graph two_output_graph(int64_t images, std::mt19937& rng) {
  Graph g;
  ValueId x = g.add_value({"x", DType::kF32, {images, 3, 256, 256}, false, {}});
  g.inputs = {x};
  ValueId features = conv(g, "features", x, 8, rng);
  ValueId head = conv(g, "head", features, 4, rng);
  ValueId mask = add_node(
      g, Node{"mask", "Sigmoid", OpKind::kEltwise, {head}, {}, EltwiseParams{EltwiseKind::kSigmoid}}, "mask.y");
  g.outputs = {features, mask};
  validate_graph(g);
  return g;
}

size_t output_bytes(const Graph& g) {
  size_t bytes = 0;
  for (ValueId v : g.outputs) bytes += byte_size(DType::kF32, g.value(v).dims, g.value(v).name);
  return bytes;
}

std::string strategy_of(const EnclaveSession& s, const Graph& g, const std::string& node) {
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (g.nodes[k].name == node) {
      auto it = s.lowering().strategies().find(k);
      return it == s.lowering().strategies().end() ? "whole" : it->second;
    }
  return "no such node";
}

TEST(OutputBands, OutputsMadeByBandedNodesCanLeaveInBands) {
  std::mt19937 rng(1);
  Graph g = two_output_graph(1, rng);
  std::vector<bool> leaving = outputs_leaving_in_bands(g);
  std::vector<std::string> names;
  for (size_t v = 0; v < leaving.size(); ++v)
    if (leaving[v]) names.push_back(g.values[v].name);
  EXPECT_EQ(names, (std::vector<std::string>{"features.y", "mask.y"}));
  // Neither is spillable as such: an output leaves through outputs_in_bands (and is spilled
  // only when it is also read).
  std::vector<bool> spillable = spillable_activations(g);
  EXPECT_TRUE(spillable[g.nodes[1].outputs[0]]);  // head.y: read by the Sigmoid in bands
  EXPECT_FALSE(spillable[g.outputs[0]]);
  EXPECT_FALSE(spillable[g.outputs[1]]);
}

class OutputBandsSealed : public ::testing::TestWithParam<int64_t> {};

TEST_P(OutputBandsSealed, RunAtTheMinimumEqualsThePlainRunAndAByteLessIsRefused) {
  std::string why;
  if (!EpcRegion::available(EpcRegion::Mechanism::kAuto, &why)) GTEST_SKIP() << "no pager mechanism: " << why;
  const int64_t images = GetParam();
  std::mt19937 rng(static_cast<unsigned>(11 + images));
  Graph g = two_output_graph(images, rng);
  std::vector<float> x = random_floats(g.value(g.inputs[0]).dims, rng);
  TensorView in{DType::kF32, g.value(g.inputs[0]).dims, x.data(), "x"};
  NativePlatform native;
  std::vector<OutputTensor> want = EnclaveSession(g, native).run({in});

  std::string dir = std::string(TEEINFER_BINARY_DIR) + "/tests/";
  std::string stem = dir + "output_bands_" + std::to_string(images);
  write_key_file(stem + ".key", generate_key(), /*overwrite=*/true);
  KeyFile keys(stem + ".key");
  pack_model(g, keys.key(), stem + ".tee", {});
  FileHost host(stem + ".tee");
  SealedModel sealed(host, keys);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  const BudgetOptions bo{.load_scratch_bytes = sealed.scratch_bytes(), .staged = true};
  const size_t least = minimum_budget(sealed.graph(), engine, sealed, bo);
  // Every plan that keeps the outputs whole holds all of them at the end of the run.
  EXPECT_LT(least, output_bytes(g));

  size_t epc = (least + EpcRegion::kPage - 1) / EpcRegion::kPage * EpcRegion::kPage;  // whole pages
  SimPlatform sim(epc);
  EnclaveSession s(sealed.graph(), sim, {.budget_bytes = least}, &sealed);
  EXPECT_LE(s.arena_bytes(), least);
  EXPECT_NE(strategy_of(s, g, "features").find("output written out"), std::string::npos)
      << strategy_of(s, g, "features");
  EXPECT_NE(strategy_of(s, g, "features").find("spilled: output"), std::string::npos)  // "head" reads it back
      << strategy_of(s, g, "features");
  EXPECT_NE(strategy_of(s, g, "mask").find("output written out"), std::string::npos) << strategy_of(s, g, "mask");
  for (const PlanOutput& o : s.lowering().outputs()) EXPECT_FALSE(o.arena) << g.value(o.value).name;
  sim.last_region()->reset_stats();
  for (int run = 0; run < 2; ++run) {  // the host's output buffers are written again each run
    std::vector<OutputTensor> got = s.run({in});
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].name, want[i].name);
      EXPECT_EQ(got[i].dims, want[i].dims);
      EXPECT_LE(max_relative_diff(got[i].data, want[i].data), 1e-5f) << got[i].name << ", run " << run;
    }
  }
  EXPECT_LE(s.peak_bytes(), least);
  EXPECT_EQ(sim.last_region()->stats().evictions, 0u);

  try {
    EnclaveSession short_one(sealed.graph(), native, {.budget_bytes = least - 1}, &sealed);
    ADD_FAILURE() << "a budget one byte below the minimum " << least << " was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBudgetExceeded) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Images, OutputBandsSealed, ::testing::Values(1, 2));

// A graph output that a later node reads cannot leave in bands unless it is spilled too:
// the lowering says so, naming the output and the reader.
TEST(OutputBands, AnOutputReadLaterMustBeSpilledToo) {
  std::mt19937 rng(3);
  Graph g = two_output_graph(1, rng);
  InlineConstants w(g);
  LoweringOptions lo;
  lo.outputs_in_bands.assign(g.values.size(), false);
  lo.outputs_in_bands[g.outputs[0]] = true;
  try {
    lower_graph(g, dnnl::engine(dnnl::engine::kind::cpu, 0), lo, 0, false);
    ADD_FAILURE() << "an output read by a later node left in bands without being spilled";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("features.y"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("head"), std::string::npos) << e.what();
  }
}

}  // namespace
