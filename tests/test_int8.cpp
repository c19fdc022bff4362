// Int8 convolutions (`pack --quantize all [--calibrate]`): weight-only int8 computes
// exactly what the dequantized fp32 model computes, on every lowering path (whole,
// streamed, output-channel tiles, bands); full int8 (u8 activations x s8 weights from a
// calibration set) stays close to fp32, really runs int8 kernels, and gives the same
// output at every budget and sealed.
#include <gtest/gtest.h>

#include <random>

#include "common/quantize.h"
#include "enclave/analysis/fusable_chains.h"
#include "enclave/budget_planner.h"
#include "enclave/cpu_adaptation.h"
#include "enclave/enclave_session.h"
#include "enclave/sealed_model.h"
#include "host/calibration.h"
#include "host/file_host.h"
#include "host/graph_passes.h"
#include "host/key_file.h"
#include "host/model_loader.h"
#include "host/npy.h"
#include "host/packer.h"
#include "host/quantize_weights.h"
#include "random_graphs.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

const std::string kModels = std::string(TEEINFER_SOURCE_DIR) + "/tests/models/";

// The fp32 model an int8 graph stands for: every int8 weight replaced by its dequantized
// float32 values.
Graph dequantized(const Graph& q) {
  Graph g = q;
  for (Node& n : g.nodes) {
    const Int8Weights* w = int8_weights_of(n);
    if (!w) continue;
    Value& v = g.value(n.inputs[1]);
    int64_t rows = v.dims[0], cols = static_cast<int64_t>(v.data.size()) / rows;
    std::vector<float> f(v.data.size());
    dequantize_rows(reinterpret_cast<const int8_t*>(v.data.data()), w->weight_scales.data(), rows, cols, f.data());
    v.dtype = DType::kF32;
    v.data.assign(reinterpret_cast<const uint8_t*>(f.data()), reinterpret_cast<const uint8_t*>(f.data() + f.size()));
    *int8_params_of(n) = {};
  }
  return g;
}

struct Model {
  explicit Model(const std::string& name)
      : x(read_npy(kModels + name + ".input.npy")),
        fp32(load_onnx_model(kModels + name + ".onnx", {{"input", x.dims}})) {}
  std::vector<float> run(const Graph& g, EnclaveOptions o = {}) {
    NativePlatform native;
    InlineConstants weights(g);
    return EnclaveSession(g, native, o, &weights).run({x.view("input")})[0].data;
  }
  size_t least(const Graph& g) {
    InlineConstants weights(g);
    return minimum_budget(g, dnnl::engine(dnnl::engine::kind::cpu, 0), weights, {});
  }
  // Full int8: ranges from the input and three noisy copies of it.
  Graph full_int8() {
    std::mt19937 rng(3);
    std::normal_distribution<float> noise(0.f, 0.3f);
    std::vector<HostTensor> calibration{x};
    for (int i = 0; i < 3; ++i) {
      HostTensor c = x;
      for (float& v : c.data) v += noise(rng);
      calibration.push_back(c);
    }
    auto ranges = measure_input_ranges(fp32, calibration);
    Graph q = fp32;
    quantize_weights(q, QuantizeTarget::kAll);
    full_nodes = set_input_scales(q, ranges);
    return q;
  }
  HostTensor x;
  Graph fp32;
  int full_nodes = 0;
};

int argmax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

TEST(Int8Conv, WeightOnlyEqualsTheDequantizedModelOnEveryPath) {
  Model m("resnet18_small");
  Graph q = m.fp32;
  QuantizeCounts counts = quantize_weights(q, QuantizeTarget::kAll);
  EXPECT_EQ(counts.conv, 20);
  EXPECT_EQ(counts.fully_connected, 1);
  EXPECT_NO_THROW(validate_graph(q));
  std::vector<float> want = m.run(dequantized(q));
  EXPECT_LT(max_relative_diff(m.run(q), want), 1e-5f) << "resident";
  size_t least = m.least(q);
  EXPECT_LT(least, m.least(m.fp32)) << "int8 weights need less secure memory";
  for (size_t budget : {least, least * 3 / 2, least * 3}) {  // streamed weights, tiles, bands
    EXPECT_LT(max_relative_diff(m.run(q, {.budget_bytes = budget}), want), 1e-5f) << "budget " << budget;
  }
  EXPECT_GT(max_relative_diff(m.run(q), m.run(m.fp32)), 0.f) << "int8 weights cannot be exact";
}

TEST(Int8Conv, BothPathsWorkInFusedBandChains) {
  Model m("vgg16_small");
  auto chains = fusable_chains(m.fp32);
  ASSERT_FALSE(chains.empty());
  EnclaveOptions fused{.fused_bands = {{chains[0].first, {chains[0].second, 4}}}};
  Graph w = m.fp32;
  quantize_weights(w, QuantizeTarget::kAll);
  EXPECT_LT(max_relative_diff(m.run(w, fused), m.run(dequantized(w))), 1e-5f) << "weight-only";
  Graph q = m.full_int8();
  EXPECT_LT(max_relative_diff(m.run(q, fused), m.run(q)), 1e-5f) << "full int8";
}

TEST(Int8Conv, FullInt8StaysCloseToFp32AndRunsInt8Kernels) {
  Model m("resnet18_small");
  Graph q = m.full_int8();
  EXPECT_EQ(m.full_nodes, 20) << "every conv but the first (its input is a normalised image) and the FC layer";
  EXPECT_NO_THROW(validate_graph(q));
  std::vector<float> want = m.run(m.fp32), got = m.run(q);
  EXPECT_LT(max_relative_diff(got, want), 0.1f);
  EXPECT_EQ(argmax(got), argmax(want));
  NativePlatform native;
  EnclaveSession s(q, native);
  int quantize_steps = 0;
  for (const StepInfo& i : s.steps()) quantize_steps += i.name.rfind("quantize ", 0) == 0;
  if (int8_products_exact()) {
    EXPECT_GT(max_relative_diff(got, m.run(dequantized(q))), 1e-4f) << "u8 activations are not the weight-only path";
    EXPECT_EQ(quantize_steps, 20);
  } else {  // no VNNI: oneDNN's u8 x s8 kernels would saturate; the nodes compute weight-only
    EXPECT_LT(max_relative_diff(got, m.run(dequantized(q))), 1e-5f) << "the weight-only path";
    EXPECT_EQ(quantize_steps, 0);
  }
}

TEST(Int8Conv, FullInt8GivesTheSameOutputAtEveryBudgetAndSealed) {
  Model m("resnet18_small");
  Graph q = m.full_int8();
  std::vector<float> want = m.run(q);
  size_t least = m.least(q);
  for (size_t budget : {least, least * 3 / 2, least * 3})
    EXPECT_LT(max_relative_diff(m.run(q, {.budget_bytes = budget}), want), 1e-5f) << "budget " << budget;
  // Bands of one row for the second conv: a u8 copy per band.
  size_t conv2 = 0;
  for (size_t i = 0, convs = 0; i < q.nodes.size(); ++i)
    if (q.nodes[i].op == OpKind::kConv && ++convs == 2) conv2 = i;
  EXPECT_LT(max_relative_diff(m.run(q, {.conv_band_rows = {{conv2, 1}}}), want), 1e-5f) << "bands";

  std::string dir = std::string(TEEINFER_BINARY_DIR) + "/tests/";
  write_key_file(dir + "int8_conv.key", generate_key(), /*overwrite=*/true);
  KeyFile keys(dir + "int8_conv.key");
  pack_model(q, keys.key(), dir + "int8_conv.tee", {});
  FileHost host(dir + "int8_conv.tee");
  SealedModel sealed(host, keys);
  NativePlatform native;
  EXPECT_EQ(EnclaveSession(sealed.graph(), native, {}, &sealed).run({m.x.view("input")})[0].data, want);
  size_t sealed_least = minimum_budget(sealed.graph(), dnnl::engine(dnnl::engine::kind::cpu, 0), sealed,
                                       {.load_scratch_bytes = sealed.scratch_bytes(), .staged = true});
  EnclaveSession streamed(sealed.graph(), native, {.budget_bytes = sealed_least}, &sealed);
  EXPECT_GT(streamed.streamed_bytes(), 0u);
  EXPECT_LT(max_relative_diff(streamed.run({m.x.view("input")})[0].data, want), 1e-5f);
}

TEST(Int8Conv, DepthwiseAndGroupedConvsQuantize) {
  Model m("mobilenet_v2_small");
  Graph q = m.full_int8();
  EXPECT_GT(m.full_nodes, 30) << "convs after a linear bottleneck read negative values and stay weight-only";
  std::vector<float> want = m.run(m.fp32), got = m.run(q);
  EXPECT_LT(max_relative_diff(got, want), 0.2f);
  Graph w = m.fp32;
  quantize_weights(w, QuantizeTarget::kAll);
  EXPECT_LT(max_relative_diff(m.run(w), m.run(dequantized(w))), 1e-5f);
}

// ---- Int8 Gemm: every broadcast of C -----------------------------------------------------

// alpha * (A B' + C') of a transB Gemm whose C' is prescaled, in double: B dequantized when
// int8; A rounded to its u8 steps for full int8, as the kernel reads it.
std::vector<double> gemm_reference(const Graph& g, std::vector<float> a) {
  const Node& n = g.nodes[0];
  const auto& p = std::get<GemmParams>(n.params);
  const Value &b = g.value(n.inputs[1]), &c = g.value(n.inputs[2]);
  const int64_t m = g.value(n.inputs[0]).dims[0], k = b.dims[1], cols = b.dims[0];
  if (computes_full_int8(p.int8))
    for (float& v : a) v = std::min(std::nearbyint(v / p.int8.input_scale), 255.f) * p.int8.input_scale;
  std::vector<float> w(static_cast<size_t>(cols * k));
  if (b.dtype == DType::kS8)
    dequantize_rows(reinterpret_cast<const int8_t*>(b.data.data()), p.int8.weight_scales.data(), cols, k, w.data());
  else
    std::memcpy(w.data(), b.data.data(), b.data.size());
  std::vector<float> cv(c.data.size() / 4);
  std::memcpy(cv.data(), c.data.data(), c.data.size());
  Dims cd = c.dims;
  cd.insert(cd.begin(), 2 - cd.size(), 1);  // {}, {1}, {N}: one row
  std::vector<double> y(static_cast<size_t>(m * cols));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      double sum = cv[static_cast<size_t>((cd[0] == 1 ? 0 : i) * cd[1] + (cd[1] == 1 ? 0 : j))];
      for (int64_t x = 0; x < k; ++x)
        sum += static_cast<double>(a[static_cast<size_t>(i * k + x)]) * w[static_cast<size_t>(j * k + x)];
      y[static_cast<size_t>(i * cols + j)] = p.alpha * sum;
    }
  return y;
}

// A fully-connected Gemm whose constant C (prescaled by the graph passes: the kernel adds
// it as its bias) broadcasts from any shape ONNX allows: {N}, {1, N}, {}, {1}, {M, 1},
// {M, N}. Every path adds all of it: fp32 resident and streamed in row windows, int8
// weights and full int8, resident and streamed. (Row windows once took C for a row: a {1}
// C was read past its end, an {M, N} one gave its first row to every row; full int8 threw.)
TEST(Int8Gemm, EveryBroadcastOfCOnEveryPath) {
  constexpr int64_t m = 3, k = 96, n = 700;  // B of 262 KiB: 64 KiB row windows when streamed
  std::mt19937 rng(5);
  std::vector<float> a = random_floats({m, k}, rng);
  for (float& v : a) v = std::fabs(v);  // full int8 reads A as u8
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  for (const Dims& c_dims : std::vector<Dims>{{n}, {1, n}, {}, {1}, {m, 1}, {m, n}}) {
    Graph fp32;
    ValueId av = fp32.add_value({"a", DType::kF32, {m, k}, false, {}});
    fp32.inputs = {av};
    ValueId b = fp32.add_value(random_constant("b", {n, k}, rng)),
            c = fp32.add_value(random_constant("c", c_dims, rng));
    ValueId y = fp32.add_value({"y", DType::kF32, {m, n}, false, {}});
    GemmParams p;
    p.alpha = 1.5f, p.beta = 0.75f, p.trans_b = true;
    fp32.nodes.push_back(Node{"gemm", "Gemm", OpKind::kGemm, {av, b, c}, {y}, p});
    fp32.outputs = {y};
    optimize_graph(fp32);
    ASSERT_TRUE(std::get<GemmParams>(fp32.nodes[0].params).c_prescaled);
    Graph weight_only = fp32;
    ASSERT_EQ(quantize_weights(weight_only, QuantizeTarget::kAll).fully_connected, 1);
    Graph full = weight_only;
    ASSERT_EQ(set_input_scales(full, {{full.inputs[0], ValueRange{0.f, *std::max_element(a.begin(), a.end())}}}), 1);
    struct Path {
      const Graph& g;
      const char* name;
      const char* strategy;  // how the resident plan runs the Gemm ("" whole)
      double tolerance;
    };
    for (const Path& path :
         {Path{fp32, "fp32", "", 1e-5}, Path{weight_only, "int8 weights", "int8 weights, dequantized", 1e-5},
          Path{full, "full int8", int8_products_exact() ? "int8 compute" : "int8 weights, dequantized",
               int8_products_exact() ? 1e-3 : 1e-5}}) {
      std::vector<double> want = gemm_reference(path.g, a);
      double scale = 0;
      for (double v : want) scale = std::max(scale, std::fabs(v));
      InlineConstants weights(path.g);
      for (bool streamed : {false, true}) {
        SCOPED_TRACE(std::string(path.name) + (streamed ? ", streamed" : ", resident") + ", C " +
                     dims_to_string(c_dims));
        EnclaveOptions o;
        if (streamed) o.budget_bytes = minimum_budget(path.g, engine, weights, {});
        NativePlatform native;
        EnclaveSession s(path.g, native, o);
        EXPECT_EQ(s.streamed_bytes() > 0, streamed);
        auto it = s.lowering().strategies().find(0);
        std::string how = it == s.lowering().strategies().end() ? "" : it->second;
        std::string expected = streamed ? "streamed in windows" : path.strategy;
        if (expected.empty())
          EXPECT_EQ(how, "");
        else
          EXPECT_NE(how.find(expected), std::string::npos) << how;
        std::vector<float> got = s.run({TensorView{DType::kF32, {m, k}, a.data(), "a"}})[0].data;
        ASSERT_EQ(got.size(), want.size());
        double worst = 0;
        for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));  // NaN: fails
        EXPECT_LE(worst, path.tolerance * scale);
      }
    }
  }
}

}  // namespace
