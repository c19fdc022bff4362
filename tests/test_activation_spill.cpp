// Encrypted activation spill: activations kept sealed in host memory, their producers and
// readers run in bands, give the same outputs as keeping them in the arena, need less
// arena, and a spilled block that is altered, swapped or replayed from an earlier run
// stops the run with Error(kTampered), after which the session runs cleanly again. (Single
// Conv and Pool nodes with spilled inputs, outputs and residuals are swept against a
// reference by the op harness, tests/op_harness: strategy spill.)
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "common/error.h"
#include "common/shape_inference.h"
#include "enclave/analysis/spillable_activations.h"
#include "enclave/enclave_session.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

// Records the untrusted memory it hands out, so a test can play the host.
class HostilePlatform : public NativePlatform {
 public:
  std::unique_ptr<std::byte[]> allocate_untrusted(size_t bytes) override {
    auto p = NativePlatform::allocate_untrusted(bytes);
    host = p.get();
    host_bytes = bytes;
    return p;
  }
  std::byte* host = nullptr;
  size_t host_bytes = 0;
};

Node conv_node(Graph& g, const std::string& name, ValueId x, int64_t oc, int64_t k, int64_t stride, std::mt19937& rng,
               ValueId residual = kNoValue) {
  Node n;
  n.name = name;
  n.onnx_op = "Conv";
  n.op = OpKind::kConv;
  ConvParams p;
  p.kernel = {k, k};
  p.strides = {stride, stride};
  p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {k / 2, k / 2};
  p.post_ops.push_back({EltwiseKind::kRelu, 0.f, 0.f});
  int64_t c = g.value(x).dims[1];
  n.inputs = {x, g.add_value(random_constant(name + ".w", {oc, c, k, k}, rng)),
              g.add_value(random_constant(name + ".b", {oc}, rng))};
  n.params = p;
  Dims y = infer_output_dims(g, n);
  if (residual != kNoValue) {
    p.fused_sum = true;
    n.params = p;
    n.inputs.push_back(residual);
  }
  n.outputs = {g.add_value({name + ".y", DType::kF32, y, false, {}})};
  return n;
}

// x -> stem (3x3) -> a (3x3) -> b (3x3, + stem's output, ReLU) -> pool -> head (1x1):
// a residual block, as in ResNet, with `images` images of 23 rows.
Graph residual_graph(int64_t images, std::mt19937& rng, int64_t width = 17, int64_t channels = 8) {
  Graph g;
  ValueId x = g.add_value({"x", DType::kF32, {images, 3, 23, width}, false, {}});
  g.inputs.push_back(x);
  g.nodes.push_back(conv_node(g, "stem", x, channels, 3, 1, rng));
  ValueId stem = g.nodes.back().outputs[0];
  g.nodes.push_back(conv_node(g, "a", stem, channels, 3, 1, rng));
  g.nodes.push_back(conv_node(g, "b", g.nodes.back().outputs[0], channels, 3, 1, rng, stem));
  Node pool;
  pool.name = "pool";
  pool.onnx_op = "MaxPool";
  pool.op = OpKind::kPool;
  PoolParams pp;
  pp.kernel = {3, 3};
  pp.strides = {2, 2};
  pp.dilations = {1, 1};
  pp.pads_begin = pp.pads_end = pp.declared_pads_end = {1, 1};
  pool.params = pp;
  pool.inputs = {g.nodes.back().outputs[0]};
  pool.outputs = {g.add_value({"pool.y", DType::kF32, infer_output_dims(g, pool), false, {}})};
  g.nodes.push_back(pool);
  g.nodes.push_back(conv_node(g, "head", pool.outputs[0], 4, 1, 1, rng));
  g.outputs.push_back(g.nodes.back().outputs[0]);
  return g;
}

std::vector<std::string> all_spillable(const Graph& g) {
  std::vector<bool> ok = spillable_activations(g);
  std::vector<std::string> names;
  for (size_t v = 0; v < ok.size(); ++v)
    if (ok[v]) names.push_back(g.values[v].name);
  return names;
}

std::vector<float> run_once(EnclaveSession& s, const Graph& g, std::vector<float>& x,
                            StepObserver* observer = nullptr) {
  return s.run({TensorView{DType::kF32, g.value(g.inputs[0]).dims, x.data(), "x"}}, observer)[0].data;
}

int count_steps(const EnclaveSession& s, const std::string& prefix) {
  int n = 0;
  for (const StepInfo& i : s.steps()) n += i.name.rfind(prefix, 0) == 0;
  return n;
}

TEST(ActivationSpill, SpillableActivationsAreThoseReadOnlyInBands) {
  std::mt19937 rng(1);
  Graph g = residual_graph(1, rng);
  EXPECT_EQ(all_spillable(g), (std::vector<std::string>{"stem.y", "a.y", "b.y", "pool.y"}));
}

TEST(ActivationSpill, ResidualBlockEqualsUnspilledForEveryBandHeight) {
  for (int64_t images : {1, 2}) {
    std::mt19937 rng(static_cast<unsigned>(images));
    Graph g = residual_graph(images, rng);
    std::vector<float> x = random_floats(g.value(g.inputs[0]).dims, rng);
    NativePlatform platform;
    EnclaveSession plain(g, platform);
    std::vector<float> want = run_once(plain, g, x);
    for (size_t band_bytes : {size_t{1}, size_t{300}, size_t{2000}, size_t{1} << 20}) {
      EnclaveOptions o;
      o.spilled_activations = all_spillable(g);
      o.spill_band_bytes = band_bytes;
      EnclaveSession spilled(g, platform, o);
      EXPECT_GT(count_steps(spilled, "spill "), 0);
      EXPECT_GT(count_steps(spilled, "unspill "), 0);
      for (int run = 0; run < 2; ++run)
        EXPECT_LE(max_relative_diff(run_once(spilled, g, x), want), 1e-5f)
            << images << " image(s), bands of ~" << band_bytes << " bytes, run " << run;
    }
  }
}

TEST(ActivationSpill, SpillingLargeActivationsShrinksTheArena) {
  std::mt19937 rng(3);
  Graph g = residual_graph(1, rng, 128, 32);  // activations of 368 KiB
  NativePlatform platform;
  EnclaveSession plain(g, platform);
  EnclaveOptions o;
  o.spilled_activations = {"stem.y", "a.y", "b.y"};
  o.spill_band_bytes = 1;  // one row per band
  EnclaveSession spilled(g, platform, o);
  EXPECT_LT(spilled.arena_bytes(), plain.arena_bytes() / 2);
  EXPECT_LE(spilled.peak_bytes(), spilled.arena_bytes());
}

TEST(ActivationSpill, UnknownActivationNameIsRejected) {
  std::mt19937 rng(4);
  Graph g = residual_graph(1, rng);
  NativePlatform platform;
  EnclaveOptions o;
  o.spilled_activations = {"no.such.value"};
  EXPECT_THROW(EnclaveSession(g, platform, o), Error);
}

// The host's moves, made between two steps of a run.
class Attack : public StepObserver {
 public:
  Attack(size_t after, std::function<void()> move) : after_(after), move_(std::move(move)) {}
  void after_step(size_t step) override {
    if (step == after_) move_();
  }

 private:
  size_t after_;
  std::function<void()> move_;
};

TEST(ActivationSpill, AlteredSwappedOrReplayedBlocksStopTheRun) {
  std::mt19937 rng(5);
  Graph g = residual_graph(1, rng);
  std::vector<float> x = random_floats(g.value(g.inputs[0]).dims, rng);
  HostilePlatform platform;
  EnclaveOptions o;
  o.spilled_activations = {"stem.y"};
  o.spill_band_bytes = 1;
  EnclaveSession s(g, platform, o);
  std::vector<float> want = run_once(s, g, x);
  ASSERT_NE(platform.host, nullptr);
  // After the last step that seals stem.y out, every block of it is in host memory.
  size_t last_seal = 0;
  auto steps = s.steps();
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i].name.rfind("spill stem.y", 0) == 0) last_seal = i;
  size_t slot = platform.host_bytes / 23;  // 23 rows, one block each
  std::vector<std::byte> earlier(platform.host, platform.host + platform.host_bytes);

  auto expect_tampered = [&](const char* what, std::function<void()> move) {
    Attack attack(last_seal, std::move(move));
    try {
      run_once(s, g, x, &attack);
      ADD_FAILURE() << what << ": the run did not fail";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kTampered) << what << ": " << e.what();
    }
    EXPECT_EQ(run_once(s, g, x), want) << what << ": the next clean run differs";
  };
  expect_tampered("one bit flipped", [&] { platform.host[slot * 5 + 7] ^= std::byte{1}; });
  expect_tampered("two rows swapped", [&] {
    std::swap_ranges(platform.host + slot * 2, platform.host + slot * 3, platform.host + slot * 3);
  });
  expect_tampered("a row replayed from an earlier run",
                  [&] { std::memcpy(platform.host + slot * 4, earlier.data() + slot * 4, slot); });
}

}  // namespace
