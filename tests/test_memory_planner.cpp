// Greedy arena planner: exact offsets on a known lifetime pattern, no overlaps on real
// models, and a budget that is too small must fail with the bytes it would need.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>

#include "common/error.h"
#include "enclave/enclave_session.h"
#include "enclave/lowering/lower_graph.h"
#include "enclave/memory_planner.h"
#include "enclave/secure_arena.h"
#include "host/model_loader.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

TEST(MemoryPlanner, ChainReusesMemoryWithExactOffsets) {
  // Lifetimes a[0,1] b[1,2] c[2,3] d[3,4]. Largest first: a at 0; c at 0 (a is dead by
  // then); b meets both a and c, so it goes after them at 4096; d meets only c: 4096.
  MemoryPlanner p;
  int a = p.add_buffer(4096, 0, 1);
  int b = p.add_buffer(2048, 1, 2);
  int c = p.add_buffer(4096, 2, 3);
  int d = p.add_buffer(1024, 3, 4);
  p.plan();
  EXPECT_EQ(p.offset(a), 0u);
  EXPECT_EQ(p.offset(c), 0u);
  EXPECT_EQ(p.offset(b), 4096u);
  EXPECT_EQ(p.offset(d), 4096u);
  EXPECT_FALSE(p.has_overlap());
  EXPECT_EQ(p.arena_size(), 4096u + 2048u);
}

TEST(MemoryPlanner, DisjointLifetimesShareOneSlot) {
  MemoryPlanner p;
  for (int i = 0; i < 10; ++i) p.add_buffer(1000, i, i);
  p.plan();
  EXPECT_EQ(p.arena_size(), 1024u);  // rounded up to the 64-byte alignment
  for (int i = 0; i < 10; ++i) EXPECT_EQ(p.offset(i), 0u);
}

// The greedy rule written as plainly as possible (the algorithm the header states): the
// indexed planner must place every buffer exactly where this does.
std::vector<size_t> reference_offsets(const std::vector<std::array<int64_t, 3>>& buffers) {
  std::vector<size_t> order(buffers.size()), offsets(buffers.size(), 0);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto bytes = [&](size_t i) { return static_cast<size_t>((buffers[i][0] + 63) / 64 * 64); };
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (bytes(a) != bytes(b)) return bytes(a) > bytes(b);
    if (buffers[a][1] != buffers[b][1]) return buffers[a][1] < buffers[b][1];
    return a < b;
  });
  std::vector<size_t> placed;
  for (size_t id : order) {
    std::vector<size_t> live;
    for (size_t p : placed)
      if (buffers[p][1] <= buffers[id][2] && buffers[id][1] <= buffers[p][2]) live.push_back(p);
    std::sort(live.begin(), live.end(), [&](size_t x, size_t y) { return offsets[x] < offsets[y]; });
    size_t candidate = 0;
    for (size_t o : live) {
      if (candidate + bytes(id) <= offsets[o]) break;
      candidate = std::max(candidate, offsets[o] + bytes(o));
    }
    offsets[id] = candidate;
    placed.push_back(id);
  }
  return offsets;
}

TEST(MemoryPlanner, PlacesExactlyAsThePlainGreedyRule) {
  std::mt19937 rng(5);
  for (int round = 0; round < 200; ++round) {
    auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
    const int64_t steps = pick(1, 40);
    std::vector<std::array<int64_t, 3>> buffers;
    for (int64_t i = 0, n = pick(1, 120); i < n; ++i) {
      int64_t kind = pick(0, 3), first = pick(-1, steps), last = std::min(steps, first + pick(0, 6));
      if (kind == 0) first = -1, last = steps;                        // whole run: resident weights
      if (kind == 1) last = steps;                                    // to the end: unmodified mode, outputs
      int64_t bytes = pick(0, 1) ? 64 * pick(1, 4) : pick(1, 20000);  // ties and odd sizes
      buffers.push_back({bytes, first, last});
    }
    MemoryPlanner p;
    for (const auto& b : buffers)
      p.add_buffer(static_cast<size_t>(b[0]), static_cast<int>(b[1]), static_cast<int>(b[2]));
    p.plan();
    std::vector<size_t> want = reference_offsets(buffers);
    for (size_t i = 0; i < buffers.size(); ++i)
      ASSERT_EQ(p.offset(static_cast<int>(i)), want[i]) << "round " << round << " buffer " << i;
    EXPECT_FALSE(p.has_overlap());
  }
}

// 2,000 layers' worth of buffers (weights for the whole run, activations for two steps,
// a scratchpad per step): weights packed end to end, activations and scratch reused.
TEST(MemoryPlanner, DeepChainPlacesLikeAShallowOne) {
  MemoryPlanner p;
  const int layers = 2000;
  for (int i = 0; i < layers; ++i) {
    p.add_buffer(9216, -1, layers);  // weight
    p.add_buffer(64, -1, layers);    // bias
    p.add_buffer(8192, i, i + 1);    // activation
    p.add_buffer(4096, i, i);        // scratchpad
  }
  p.plan();
  EXPECT_FALSE(p.has_overlap());
  EXPECT_EQ(p.arena_size(), layers * (9216u + 64u) + 2 * 8192u + 4096u);
}

TEST(MemoryPlanner, AsciiShowsEveryStep) {
  MemoryPlanner p;
  p.add_buffer(64, 0, 2);
  p.add_buffer(64, 1, 1);
  p.plan();
  std::string s = p.to_ascii(8);
  EXPECT_NE(s.find("step 0"), std::string::npos);
  EXPECT_NE(s.find("step 2"), std::string::npos);
}

TEST(SecureArena, RefusesBytesPastTheBudget) {
  alignas(64) static std::byte region[1024];
  SecureArena arena(region, sizeof region, 512);
  EXPECT_NO_THROW(arena.reserve(0, 512, "fits"));
  EXPECT_THROW(arena.reserve(256, 512, "too far"), Error);
  EXPECT_EQ(arena.peak_bytes(), 512u);
}

TEST(EnclaveSession, RealModelPlanHasNoOverlapsAndReusesMemory) {
  Graph g = load_onnx_model(std::string(TEEINFER_SOURCE_DIR) + "/tests/models/resnet50_small.onnx",
                            {{"input", {1, 3, 64, 64}}});
  size_t total = 0;
  for (const Value& v : g.values) total += byte_size(v.dtype, v.dims, v.name);
  NativePlatform platform;
  EnclaveSession s(g, platform);
  EXPECT_LT(s.arena_bytes(), total) << "lifetime reuse should beat one buffer per value";
  EXPECT_EQ(s.peak_bytes(), s.arena_bytes());
}

// The unmodified baseline frees nothing: every buffer used by a step lives to the last
// step, and one shared workspace serves all im2col convolutions.
TEST(Lowering, UnmodifiedModeKeepsEveryBufferToTheEnd) {
  Graph g = load_onnx_model(std::string(TEEINFER_SOURCE_DIR) + "/tests/models/resnet18_small.onnx",
                            {{"input", {1, 3, 64, 64}}});
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  std::unique_ptr<LoweredPlan> unmodified = lower_graph(g, engine, {.mode = ExecutionMode::kUnmodified});
  const LoweredPlan& l = *unmodified;
  const MemoryPlanner& p = l.planner();
  int last = static_cast<int>(l.steps().size()), workspaces = 0;  // outputs are read after the last step
  for (int b = 0; b < p.buffer_count(); ++b) {
    EXPECT_EQ(p.last_step(b), last) << l.buffer_names()[b];
    workspaces += l.buffer_names()[b] == "shared workspace";
  }
  EXPECT_EQ(workspaces, 1);
  std::unique_ptr<LoweredPlan> lowered = lower_graph(g, engine);
  const LoweredPlan& planned = *lowered;
  int freed_early = 0;
  for (int b = 0; b < planned.planner().buffer_count(); ++b)
    freed_early += planned.planner().last_step(b) < static_cast<int>(planned.steps().size());
  EXPECT_GT(freed_early, 0);
}

TEST(EnclaveSession, AnAmpleBudgetKeepsEveryWeightResident) {
  Graph g = load_onnx_model(std::string(TEEINFER_SOURCE_DIR) + "/models/fmnist_vgg.onnx", {{"image", {1, 1, 28, 28}}});
  NativePlatform platform;
  size_t need = EnclaveSession(g, platform).arena_bytes();
  EnclaveSession s(g, platform, {.budget_bytes = need});
  EXPECT_EQ(s.arena_bytes(), need);
  EXPECT_EQ(s.streamed_bytes(), 0u);
}
