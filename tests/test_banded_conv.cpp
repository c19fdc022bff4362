// Y-plane partitioned convolution: computing a conv's output in bands of rows (each band
// from its input rows plus halo, padding only at the image border) equals the whole-layer
// conv, over a seeded random sweep of shapes, strides, dilations, paddings, groups, fused
// residuals and activations, and band heights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

#include "common/shape_inference.h"
#include "enclave/analysis/fusable_chains.h"
#include "enclave/enclave_session.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

struct ConvCase {
  int64_t n, c, h, w, oc, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups;
  bool bias, residual, relu;
};

std::string describe(const ConvCase& k) {
  std::ostringstream o;
  o << "N" << k.n << " C" << k.c << " " << k.h << "x" << k.w << " OC" << k.oc << " k" << k.kh << "x" << k.kw << " s"
    << k.sh << "," << k.sw << " d" << k.dh << "," << k.dw << " pads " << k.pt << "," << k.pl << "," << k.pb << ","
    << k.pr << " g" << k.groups << (k.bias ? " bias" : "") << (k.residual ? " residual" : "")
    << (k.relu ? " relu" : "");
  return o.str();
}

// One Conv node (with a fused residual: a second graph input added in).
Graph conv_graph(const ConvCase& k, std::mt19937& rng) {
  Graph g;
  ValueId x = g.add_value({"x", DType::kF32, {k.n, k.c, k.h, k.w}, false, {}});
  g.inputs.push_back(x);
  Node n;
  n.name = "conv";
  n.onnx_op = "Conv";
  n.op = OpKind::kConv;
  ConvParams p;
  p.kernel = {k.kh, k.kw};
  p.strides = {k.sh, k.sw};
  p.dilations = {k.dh, k.dw};
  p.pads_begin = {k.pt, k.pl};
  p.pads_end = {k.pb, k.pr};
  p.groups = k.groups;
  if (k.relu) p.post_ops.push_back({EltwiseKind::kRelu, 0.f, 0.f});
  n.inputs = {x, g.add_value(random_constant("w", {k.oc, k.c / k.groups, k.kh, k.kw}, rng))};
  n.inputs.push_back(k.bias ? g.add_value(random_constant("b", {k.oc}, rng)) : kNoValue);
  n.params = p;
  Dims y = infer_output_dims(g, n);
  if (k.residual) {
    p.fused_sum = true;
    n.params = p;
    ValueId r = g.add_value({"r", DType::kF32, y, false, {}});
    g.inputs.push_back(r);
    n.inputs.push_back(r);
  }
  n.outputs = {g.add_value({"y", DType::kF32, y, false, {}})};
  g.nodes.push_back(n);
  g.outputs.push_back(n.outputs[0]);
  return g;
}

ConvCase random_case(std::mt19937& rng) {
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  ConvCase k{};
  k.groups = std::vector<int64_t>{1, 1, 2, 4}[static_cast<size_t>(pick(0, 3))];
  bool depthwise = pick(0, 4) == 0;
  k.c = depthwise ? pick(1, 8) : k.groups * pick(1, 6);
  k.oc = depthwise ? k.c : k.groups * pick(1, 6);
  if (depthwise) k.groups = k.c;
  k.n = pick(1, 2);
  k.kh = pick(1, 5), k.kw = pick(1, 4);
  k.sh = pick(1, 3), k.sw = pick(1, 2);
  k.dh = pick(1, 2), k.dw = pick(1, 2);
  k.pt = pick(0, 2), k.pb = pick(0, 2), k.pl = pick(0, 1), k.pr = pick(0, 1);
  k.h = pick((k.kh - 1) * k.dh + 1, 24);
  k.w = pick((k.kw - 1) * k.dw + 1, 16);
  k.bias = pick(0, 1), k.residual = pick(0, 2) == 0, k.relu = pick(0, 1);
  return k;
}

std::vector<float> run(const Graph& g, std::vector<std::vector<float>>& inputs, int64_t band_rows, size_t* band_steps) {
  NativePlatform platform;
  EnclaveOptions o;
  o.conv_band_rows = {{0, band_rows}};
  EnclaveSession s(g, platform, o);
  *band_steps = s.steps().size();
  std::vector<TensorView> views;
  for (size_t i = 0; i < inputs.size(); ++i)
    views.push_back(TensorView{DType::kF32, g.value(g.inputs[i]).dims, inputs[i].data(), g.value(g.inputs[i]).name});
  return s.run(views)[0].data;
}

TEST(BandedConv, EqualsWholeLayerConvOverARandomSweep) {
  std::mt19937 rng(20261123);
  int banded_cases = 0;
  for (int i = 0; i < 150; ++i) {
    ConvCase k = random_case(rng);
    Graph g = conv_graph(k, rng);
    std::vector<std::vector<float>> inputs;
    for (ValueId v : g.inputs) {
      inputs.push_back(random_floats(g.value(v).dims, rng));
    }
    int64_t out_h = g.value(g.outputs[0]).dims[2];
    size_t whole_steps = 0, band_steps = 0;
    std::vector<float> whole = run(g, inputs, 0, &whole_steps);
    int64_t rows = std::uniform_int_distribution<int64_t>(1, std::max<int64_t>(out_h - 1, 1))(rng);
    std::vector<float> banded = run(g, inputs, rows, &band_steps);
    // Rows that see only padding are merged into a neighbouring band, which can leave
    // one band; otherwise there must be several.
    bool padding_only_rows = k.pt > (k.kh - 1) * k.dh || k.pb > (k.kh - 1) * k.dh;
    if (rows < out_h && !padding_only_rows) {
      ++banded_cases;
      EXPECT_GT(band_steps, whole_steps) << describe(k) << ": not banded";
    }
    EXPECT_LE(max_relative_diff(banded, whole), 1e-5f) << describe(k) << ", bands of " << rows << " rows";
  }
  EXPECT_GT(banded_cases, 75);
}

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

// Output-channel tiles: a streamed conv weight larger than the stream window is applied a
// tile of output channels at a time (including a last, narrower tile and a fused
// residual), and the result equals the conv with its weight resident.
TEST(OutputChannelTiles, StreamedWeightInTilesEqualsResidentWeight) {
  std::mt19937 rng(11);
  ConvCase cases[] = {
      {1, 256, 9, 7, 200, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, true},    // 200 = 112 + 88
      {2, 160, 6, 6, 256, 3, 3, 2, 1, 1, 2, 0, 2, 1, 2, 1, false, false, true},  // strided, dilated
      {1, 512, 4, 4, 128, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, true, false},   // 1x1, residual
  };
  for (const ConvCase& k : cases) {
    Graph g = conv_graph(k, rng);
    std::vector<std::vector<float>> inputs;
    std::vector<TensorView> views;
    for (ValueId v : g.inputs) {
      inputs.push_back(random_floats(g.value(v).dims, rng));
    }
    for (size_t i = 0; i < inputs.size(); ++i)
      views.push_back(TensorView{DType::kF32, g.value(g.inputs[i]).dims, inputs[i].data(), g.value(g.inputs[i]).name});
    NativePlatform platform;
    EnclaveSession resident(g, platform);
    std::vector<float> want = resident.run(views)[0].data;
    for (bool prefetch : {false, true}) {
      EnclaveOptions o;
      o.budget_bytes = resident.arena_bytes() - 1;  // the weight (> 1 MiB) must stream
      o.prefetch_weights = prefetch;
      EnclaveSession tiled(g, platform, o);
      int tiles = 0;
      for (const StepInfo& s : tiled.steps()) tiles += s.name.find("conv channels") == 0;
      EXPECT_GE(tiles, 2) << describe(k);
      EXPECT_LE(tiled.arena_bytes(), o.budget_bytes);
      std::vector<float> got = tiled.run(views)[0].data;
      EXPECT_LE(max_relative_diff(got, want), 1e-5f) << describe(k) << (prefetch ? ", prefetch" : "");
    }
  }
}

}  // namespace
