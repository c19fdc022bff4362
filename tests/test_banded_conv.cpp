// Band-fused chains: random chains of 2-4 real Conv layers (and a MaxPool) computed band
// by band through every layer, each band recomputing the halo its layers' windows need,
// equal the layer-by-layer result. (A single Conv in bands, in output-channel tiles, and
// in fused chains with 1x1 neighbours is swept against a reference by the op harness,
// tests/op_harness: strategies bands, windows and fused.)
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "enclave/analysis/fusable_chains.h"
#include "enclave/bands/band.h"
#include "enclave/budget_planner.h"
#include "enclave/enclave_session.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

// Band-fused chains: random Conv/Conv/MaxPool chains computed band by band through every
// layer equal the layer-by-layer result.
std::vector<float> run_fused(const Graph& g, std::vector<float>& input,
                             std::map<size_t, std::pair<size_t, int64_t>> fused, size_t* steps) {
  NativePlatform platform;
  EnclaveOptions o;
  o.fused_bands = std::move(fused);
  EnclaveSession s(g, platform, o);
  *steps = s.steps().size();
  return s.run({TensorView{DType::kF32, g.value(g.inputs[0]).dims, input.data(), "x"}})[0].data;
}

TEST(BandFusion, ChainsEqualLayerByLayerOverARandomSweep) {
  std::mt19937 rng(7);
  for (int i = 0; i < 60; ++i) {
    int64_t out_h = 0;
    Graph g = chain_graph(rng, &out_h);
    std::vector<float> x = random_floats(g.value(g.inputs[0]).dims, rng);
    auto chains = fusable_chains(g);
    ASSERT_EQ(chains.size(), 1u);
    ASSERT_EQ(chains[0], std::make_pair(size_t{0}, g.nodes.size() - 1));
    int64_t rows = std::uniform_int_distribution<int64_t>(1, std::max<int64_t>(out_h - 1, 1))(rng);
    size_t plain_steps = 0, fused_steps = 0;
    std::vector<float> want = run_fused(g, x, {}, &plain_steps);
    std::vector<float> got = run_fused(g, x, {{0, {g.nodes.size() - 1, rows}}}, &fused_steps);
    if (rows < out_h) {
      EXPECT_GT(fused_steps, plain_steps);
    }
    EXPECT_LE(max_relative_diff(got, want), 1e-5f)
        << "case " << i << ", " << g.nodes.size() << " layers, bands of " << rows;
  }
}

// A dilated AveragePool (padding not counted) in bands. oneDNN 2.6 refuses such a pool
// whose dilation - 1 is not below its input rows, which a band can have where the whole
// layer does not (here: rows dilated by 3, pads of 3, so a top or bottom band of one or
// two output rows reads as many input rows). Every window of such a band sees one input
// row: the lowering computes it a row at a time. In fused chains of every band height and
// next to spilled activations in bands of 1-3 rows, the output equals the whole layer's.
TEST(BandFusion, DilatedAveragePoolInBandsOfFewerRowsThanTheDilation) {
  std::mt19937 rng(11);
  Graph g;
  ValueId x = g.add_value({"x", DType::kF32, {1, 4, 12, 9}, false, {}});
  g.inputs = {x};
  ConvParams conv{{1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1, false, {}, {}};
  ValueId c = g.add_value({"conv.y", DType::kF32, {1, 6, 12, 9}, false, {}});
  g.nodes.push_back(
      Node{"conv", "Conv", OpKind::kConv, {x, g.add_value(random_constant("w", {6, 4, 1, 1}, rng))}, {c}, conv});
  PoolParams avg{PoolKind::kAverage, {2, 3}, {1, 1}, {3, 2}, {3, 1}, {3, 1}, false, {3, 1}};
  ValueId a = g.add_value({"avg.y", DType::kF32, {1, 6, 15, 7}, false, {}});
  g.nodes.push_back(Node{"avg", "AveragePool", OpKind::kPool, {c}, {a}, avg});
  PoolParams one{PoolKind::kMax, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, false, {0, 0}};
  ValueId y = g.add_value({"max.y", DType::kF32, {1, 6, 15, 7}, false, {}});
  g.nodes.push_back(Node{"max", "MaxPool", OpKind::kPool, {a}, {y}, one});  // so that avg.y can be spilled
  g.outputs = {y};
  validate_graph(g);
  std::vector<float> input = random_floats(g.value(x).dims, rng);
  auto run = [&](const EnclaveOptions& o) {
    NativePlatform platform;
    EnclaveSession s(g, platform, o);
    return s.run({TensorView{DType::kF32, g.value(x).dims, input.data(), "x"}})[0].data;
  };
  std::vector<float> want = run({});
  for (int64_t rows = 1; rows < 15; ++rows)
    EXPECT_LE(max_relative_diff(run({.fused_bands = {{0, {1, rows}}}}), want), 1e-6f) << "fused, bands of " << rows;
  for (size_t band_bytes : {1, 6 * 7 * 4 * 2, 6 * 7 * 4 * 3}) {  // 1, 2 and 3 output rows
    EnclaveOptions o{.spilled_activations = {"conv.y", "avg.y"}, .spill_band_bytes = band_bytes};
    EXPECT_LE(max_relative_diff(run(o), want), 1e-6f) << "spilled, bands of " << band_bytes << " bytes";
  }
}

}  // namespace

namespace {

// Bands are as even as they can be: no short tail band (a one-row band took oneDNN's
// reference kernel with the weight layout the first band chose: ResNet-50 at batch 8 in
// 16 MiB ran 1.6 s of its 2.5 s there).
TEST(Bands, AreAsEvenAsTheyCanBe) {
  for (int64_t out_h : {1, 2, 7, 28, 56, 100})
    for (int64_t rows = 1; rows <= out_h; ++rows) {
      std::vector<Band> bands = split_bands(out_h, rows, out_h, 1, 1, 1, 0);
      ASSERT_EQ(bands.size(), static_cast<size_t>((out_h + rows - 1) / rows)) << out_h << " / " << rows;
      int64_t next = 0, shortest = out_h, longest = 0;
      for (const Band& b : bands) {
        EXPECT_EQ(b.out_first, next);
        next += b.out_rows;
        shortest = std::min(shortest, b.out_rows);
        longest = std::max(longest, b.out_rows);
      }
      EXPECT_EQ(next, out_h);
      EXPECT_LE(longest, rows);
      EXPECT_LE(longest - shortest, 1) << out_h << " rows in bands of at most " << rows;
    }
  std::vector<Band> two = split_bands(28, 27, 28, 1, 1, 1, 0);
  EXPECT_EQ(two[0].out_rows, 14);
  EXPECT_EQ(two[1].out_rows, 14);
}

// A streamed weight in output-channel tiles with a fused residual, on a batch: each tile's
// residual is added by the conv's sum post-op (oneDNN 2.6 had only its reference binary
// for a channel slice: ResNet-50's last convs at batch 8), on optimised kernels only, and
// the output equals the resident plan's.
TEST(Tiles, AResidualAddedPerTileUsesOptimisedKernelsOnABatch) {
  std::mt19937 rng(5);
  Graph g;
  ValueId x = g.add_value({"x", DType::kF32, {8, 1024, 7, 7}, false, {}});
  ValueId r = g.add_value({"r", DType::kF32, {8, 1024, 7, 7}, false, {}});
  g.inputs = {x, r};
  ConvParams conv{{1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1, true, {{EltwiseKind::kRelu}}, {}};
  ValueId y = g.add_value({"y", DType::kF32, {8, 1024, 7, 7}, false, {}});
  g.nodes.push_back(Node{"conv",
                         "Conv",
                         OpKind::kConv,
                         {x, g.add_value(random_constant("w", {1024, 1024, 1, 1}, rng)),  // 4 MiB: 4 windows
                          g.add_value(random_constant("b", {1024}, rng)), r},
                         {y},
                         conv});
  g.outputs = {y};
  validate_graph(g);
  std::vector<float> xv = random_floats(g.value(x).dims, rng), rv = random_floats(g.value(r).dims, rng);
  auto run = [&](size_t budget, std::vector<StepInfo>* steps) {
    NativePlatform platform;
    EnclaveOptions o;
    o.budget_bytes = budget;
    EnclaveSession s(g, platform, o);
    if (steps) *steps = s.steps();
    return s
        .run({TensorView{DType::kF32, g.value(x).dims, xv.data(), "x"},
              TensorView{DType::kF32, g.value(r).dims, rv.data(), "r"}})[0]
        .data;
  };
  std::vector<StepInfo> resident_steps, tiled_steps;
  std::vector<float> want = run(0, &resident_steps);
  NativePlatform platform;
  size_t resident_arena = EnclaveSession(g, platform, {}).arena_bytes();
  // 3 MiB less: the 4 MiB weight can no longer lie whole in the arena (tiles of 1 MiB).
  std::vector<float> got = run(resident_arena - (size_t{3} << 20), &tiled_steps);
  int tiles = 0;
  for (const StepInfo& s : tiled_steps) {
    tiles += s.name.find(" channels ") != std::string::npos && s.name.find("(") == std::string::npos;
    EXPECT_NE(s.impl.rfind("ref:", 0), 0u) << s.name << ": " << s.impl;
  }
  EXPECT_GE(tiles, 2);
  EXPECT_LE(max_relative_diff(got, want), 1e-5f);
}

// A dilated convolution, for which oneDNN 2.6 has only its gemm kernel on channels-last
// AVX2 (IS-Net's RSU-4F blocks), keeps the im2col of its whole output as scratchpad,
// per output-channel tile too; a tile whose scratchpad outweighs the stream window runs
// in bands of rows. So the minimum budget is below that im2col buffer, and the run at the
// minimum equals the unlimited one.
TEST(Tiles, AConvolutionWithALargeScratchpadRunsEachTileInRowBands) {
  std::mt19937 rng(9);
  Graph g;
  ValueId x = g.add_value({"x", DType::kF32, {1, 256, 32, 32}, false, {}});
  g.inputs = {x};
  ConvParams conv{{3, 3}, {1, 1}, {4, 4}, {4, 4}, {4, 4}, 1, false, {{EltwiseKind::kRelu}}, {}};
  ValueId y = g.add_value({"y", DType::kF32, {1, 64, 32, 32}, false, {}});
  g.nodes.push_back(
      Node{"conv",
           "Conv",
           OpKind::kConv,
           {x, g.add_value(random_constant("w", {64, 256, 3, 3}, rng)), g.add_value(random_constant("b", {64}, rng))},
           {y},
           conv});
  // Erf runs whole (hand-written), so y can neither spill nor leave in bands: the conv's
  // own lowering is what the budget decides.
  ValueId z = g.add_value({"z", DType::kF32, {1, 64, 32, 32}, false, {}});
  g.nodes.push_back(Node{"erf", "Erf", OpKind::kEltwise, {y}, {z}, EltwiseParams{EltwiseKind::kErf}});
  g.outputs = {z};
  validate_graph(g);
  std::vector<float> xv = random_floats(g.value(x).dims, rng);
  TensorView in{DType::kF32, g.value(x).dims, xv.data(), "x"};
  NativePlatform platform;
  std::vector<float> want = EnclaveSession(g, platform).run({in})[0].data;
  InlineConstants w(g);
  size_t least = minimum_budget(g, dnnl::engine(dnnl::engine::kind::cpu, 0), w, {});
  const size_t im2col = size_t{256} * 9 * 32 * 32 * sizeof(float);  // 9 MiB
  EXPECT_LT(least, im2col);
  EnclaveSession s(g, platform, {.budget_bytes = least});
  // Unlimited, this dilated conv may run as phases on the direct kernel
  // (conv_dilated_phases.h), another summation order over 2,304 terms than the GEMM's.
  EXPECT_LE(max_relative_diff(s.run({in})[0].data, want), 1e-4f);
  EXPECT_LE(s.peak_bytes(), least);
}

}  // namespace
