// The patterns exporters spell out as several ops and the graph passes fuse (issue 19):
// GELU (Erf and Tanh forms) into one Gelu activation, x * Sigmoid(x) into one Swish, LayerNorm into one LayerNorm node,
// Max/Min with a constant into Clip. Each spelling is an ONNX model built here; it runs
// as imported (unfused) and after optimize_graph (fused), and the outputs must agree.
// Near misses must be left alone. The ONNX ops Gelu and LayerNormalization import to the
// same nodes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/error.h"
#include "common/sealed_format.h"
#include "enclave/enclave_session.h"
#include "host/graph_passes.h"
#include "host/onnx_import.h"
#include "host/packer.h"
#include "onnx_builder.h"
#include "onnx_test_case.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;
using teeinfer::testing::OnnxModelBuilder;
using teeinfer::testing::OnnxNodeBuilder;
namespace fs = std::filesystem;

namespace {

std::vector<float> random_values(size_t n, float scale, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

struct RunResult {
  std::vector<float> y;
  std::vector<StepInfo> steps;
};

RunResult run(const Graph& g, const std::vector<float>& x) {
  NativePlatform platform;
  EnclaveSession s(g, platform);
  TensorView in{DType::kF32, g.value(g.inputs[0]).dims, const_cast<float*>(x.data()), "x"};
  RunResult r;
  r.y = s.run({in})[0].data;
  r.steps = s.steps();
  return r;
}

// A model of one graph input "x" and output "y", imported (unfused) and optimized (fused).
struct Imported {
  Graph plain, fused;
  PassStats stats;
};

Imported import_both(const OnnxModelBuilder& b, const Dims& x) {
  ImportOptions opt;
  opt.input_dims["x"] = x;
  Imported m;
  m.plain = import_onnx(b.bytes(), "test", opt);
  m.fused = m.plain;
  m.stats = optimize_graph(m.fused);
  validate_graph(m.fused);
  return m;
}

// Runs both graphs on the same input; returns the fused run.
RunResult expect_same_results(const Imported& m, float tolerance = 1e-5f) {
  std::vector<float> x =
      random_values(static_cast<size_t>(element_count(m.plain.value(m.plain.inputs[0]).dims, "x")), 1.5f, 7);
  RunResult a = run(m.plain, x), b = run(m.fused, x);
  EXPECT_EQ(a.y.size(), b.y.size());
  for (size_t i = 0; i < a.y.size() && i < b.y.size(); ++i)
    if (std::fabs(a.y[i] - b.y[i]) > tolerance * (1 + std::fabs(a.y[i]))) {
      ADD_FAILURE() << "element " << i << ": unfused " << a.y[i] << ", fused " << b.y[i];
      break;
    }
  return b;
}

std::string scalar(OnnxModelBuilder& b, const std::string& name, float v) {
  return b.constant<float>(name, {}, {v});
}

// The graph as the enclave gets it from a sealed file: through the manifest's encoding.
Graph through_sealed_manifest(const Graph& g) {
  Manifest manifest = plan_manifest(g, 64);
  uint32_t chunks = 0;
  for (const SealedTensor& t : manifest.tensors) chunks += t.chunk_count;
  const std::vector<uint8_t> bytes = encode_manifest(manifest);
  return decode_manifest(bytes.data(), bytes.size(), chunks).profiles.at(0).graph;
}

// GELU of `h` into "y" as PyTorch exports it: Div(h, sqrt2), Erf, Add 1, Mul h, Mul half.
void pytorch_gelu(OnnxModelBuilder& b, const std::string& h, float sqrt2 = 1.4142135f, float half = 0.5f) {
  b.node("Div", {h, scalar(b, "sqrt2", sqrt2)}, {"z"});
  b.node("Erf", {"z"}, {"e"});
  b.node("Add", {"e", scalar(b, "one", 1.f)}, {"ep1"});
  b.node("Mul", {h, "ep1"}, {"m"});
  b.node("Mul", {"m", scalar(b, "half", half)}, {"y"});
}

// ---- GELU -----------------------------------------------------------------------------

// x = MatMul(input, w) of {2, 3, 8} x {8, 16}, then a spelling of GELU into "y".
enum class GeluForm {
  kPytorch,           // Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5)
  kInvSqrt2Commuted,  // Mul(0.5, Mul(Add(1, Erf(Mul(0.7071, x))), x))
  kHalfFirst,         // Mul(Mul(x, 0.5), Add(Erf(x / sqrt 2), 1))
  kDividedByTwo,      // Div(Mul(x, 1 + Erf(x * 0.7071)), 2)
  kTanhPow,           // 0.5 * x * (1 + Tanh(0.79788 * (x + 0.044715 * Pow(x, 3))))
  kTanhProduct,       // the same with x * x * x
};

OnnxModelBuilder gelu_model(GeluForm form, float sqrt2 = 1.4142135f, float half = 0.5f) {
  OnnxModelBuilder b(13);
  b.input("x", {2, 3, 8});
  b.node("MatMul", {"x", b.constant<float>("w", {8, 16}, random_values(128, 0.5f, 1))}, {"h"});
  const float inv = 1.f / sqrt2;
  switch (form) {
    case GeluForm::kPytorch:
      pytorch_gelu(b, "h", sqrt2, half);
      break;
    case GeluForm::kInvSqrt2Commuted:
      b.node("Mul", {scalar(b, "inv_sqrt2", inv), "h"}, {"z"});
      b.node("Erf", {"z"}, {"e"});
      b.node("Add", {scalar(b, "one", 1.f), "e"}, {"ep1"});
      b.node("Mul", {"ep1", "h"}, {"m"});
      b.node("Mul", {scalar(b, "half", half), "m"}, {"y"});
      break;
    case GeluForm::kHalfFirst:
      b.node("Mul", {"h", scalar(b, "half", half)}, {"hh"});
      b.node("Div", {"h", scalar(b, "sqrt2", sqrt2)}, {"z"});
      b.node("Erf", {"z"}, {"e"});
      b.node("Add", {"e", scalar(b, "one", 1.f)}, {"ep1"});
      b.node("Mul", {"hh", "ep1"}, {"y"});
      break;
    case GeluForm::kDividedByTwo:
      b.node("Mul", {"h", scalar(b, "inv_sqrt2", inv)}, {"z"});
      b.node("Erf", {"z"}, {"e"});
      b.node("Add", {"e", scalar(b, "one", 1.f)}, {"ep1"});
      b.node("Mul", {"h", "ep1"}, {"m"});
      b.node("Div", {"m", scalar(b, "two", 1.f / half)}, {"y"});
      break;
    case GeluForm::kTanhPow:
    case GeluForm::kTanhProduct:
      if (form == GeluForm::kTanhPow) {
        b.node("Pow", {"h", scalar(b, "three", 3.f)}, {"h3"});
      } else {
        b.node("Mul", {"h", "h"}, {"h2"});
        b.node("Mul", {"h2", "h"}, {"h3"});
      }
      b.node("Mul", {scalar(b, "c", 0.044715f), "h3"}, {"ch3"});
      b.node("Add", {"h", "ch3"}, {"u"});
      b.node("Mul", {"u", scalar(b, "k", 0.7978845608f * 1.4142135f / sqrt2)}, {"t"});
      b.node("Tanh", {"t"}, {"th"});
      b.node("Add", {"th", scalar(b, "one", 1.f)}, {"tp1"});
      b.node("Mul", {"h", scalar(b, "half", half)}, {"hh"});
      b.node("Mul", {"hh", "tp1"}, {"y"});
      break;
  }
  b.output("y");
  return b;
}

TEST(GeluPattern, EverySpellingBecomesOneActivationFusedIntoTheMatMul) {
  const GeluForm forms[] = {GeluForm::kPytorch,      GeluForm::kInvSqrt2Commuted, GeluForm::kHalfFirst,
                            GeluForm::kDividedByTwo, GeluForm::kTanhPow,          GeluForm::kTanhProduct};
  for (GeluForm form : forms) {
    SCOPED_TRACE("form " + std::to_string(static_cast<int>(form)));
    Imported m = import_both(gelu_model(form), {2, 3, 8});
    EXPECT_EQ(m.stats.gelu_patterns_fused, 1);
    ASSERT_EQ(m.fused.nodes.size(), 1u) << "the MatMul with GELU as its post-op";
    const auto& post = std::get<MatMulParams>(m.fused.nodes[0].params).post_ops;
    ASSERT_EQ(post.size(), 1u);
    bool tanh = form == GeluForm::kTanhPow || form == GeluForm::kTanhProduct;
    EXPECT_EQ(post[0].kind, tanh ? EltwiseKind::kGeluTanh : EltwiseKind::kGelu);
    EXPECT_NE(describe(m.stats).find("1 GELU patterns, 0 LayerNorm patterns fused"), std::string::npos)
        << describe(m.stats);
    RunResult fused = expect_same_results(m);
    // What `run --verbose` lists: the MatMul's step names its post-op.
    ASSERT_FALSE(fused.steps.empty());
    bool listed = false;
    for (const StepInfo& s : fused.steps)
      listed |= s.impl.find(tanh ? "eltwise_gelu_tanh" : "eltwise_gelu_erf") != std::string::npos;
    EXPECT_TRUE(listed) << fused.steps[0].name << ": " << fused.steps[0].impl;
  }
}

TEST(GeluPattern, FusesIntoConvAndGemmToo) {
  {
    OnnxModelBuilder b(13);
    b.input("x", {1, 3, 6, 6});
    b.node("Conv", {"x", b.constant<float>("w", {4, 3, 3, 3}, random_values(108, 0.3f, 2))}, {"h"})
        .ints("pads", {1, 1, 1, 1});
    pytorch_gelu(b, "h");
    b.output("y");
    Imported m = import_both(b, {1, 3, 6, 6});
    ASSERT_EQ(m.fused.nodes.size(), 1u);
    const auto& post = std::get<ConvParams>(m.fused.nodes[0].params).post_ops;
    ASSERT_EQ(post.size(), 1u);
    EXPECT_EQ(post[0].kind, EltwiseKind::kGelu);
    expect_same_results(m);
  }
  {
    OnnxModelBuilder b(13);
    b.input("x", {3, 8});
    b.node("Gemm",
           {"x", b.constant<float>("w", {5, 8}, random_values(40, 0.5f, 3)),
            b.constant<float>("c", {5}, random_values(5, 0.5f, 4))},
           {"h"})
        .i("transB", 1);
    b.node("Mul", {"h", scalar(b, "inv_sqrt2", 0.70710678f)}, {"z"});
    b.node("Erf", {"z"}, {"e"});
    b.node("Add", {"e", scalar(b, "one", 1.f)}, {"ep1"});
    b.node("Mul", {"h", scalar(b, "half", 0.5f)}, {"hh"});
    b.node("Mul", {"hh", "ep1"}, {"y"});
    b.output("y");
    Imported m = import_both(b, {3, 8});
    ASSERT_EQ(m.fused.nodes.size(), 1u);
    const auto& post = std::get<GemmParams>(m.fused.nodes[0].params).post_ops;
    ASSERT_EQ(post.size(), 1u);
    EXPECT_EQ(post[0].kind, EltwiseKind::kGelu);
    expect_same_results(m);
  }
}

// A Linear layer as exporters write it: MatMul, Add of the bias row, then GELU (erf form).
OnnxModelBuilder linear_gelu_model(const Dims& bias_dims, bool bias_first) {
  OnnxModelBuilder b(13);
  b.input("x", {2, 3, 8});
  b.node("MatMul", {"x", b.constant<float>("w", {8, 16}, random_values(128, 0.5f, 1))}, {"h"});
  const size_t n = static_cast<size_t>(element_count(bias_dims, "bias"));
  std::string c = b.constant<float>("bias", bias_dims, random_values(n, 0.5f, 5));
  b.node("Add", bias_first ? std::vector<std::string>{c, "h"} : std::vector<std::string>{"h", c}, {"hb"});
  pytorch_gelu(b, "hb");
  b.output("y");
  return b;
}

TEST(MatMulBias, ALinearLayersBiasJoinsTheMatMulAndTheGeluAfterItFuses) {
  for (const Dims& bias : {Dims{16}, Dims{1, 16}, Dims{1, 1, 16}})
    for (bool bias_first : {false, true}) {
      SCOPED_TRACE(dims_to_string(bias) + (bias_first ? " bias first" : " bias second"));
      Imported m = import_both(linear_gelu_model(bias, bias_first), {2, 3, 8});
      EXPECT_EQ(m.stats.matmul_biases_fused, 1);
      EXPECT_NE(describe(m.stats).find("1 MatMul biases fused"), std::string::npos) << describe(m.stats);
      ASSERT_EQ(m.fused.nodes.size(), 1u) << "MatMul + bias + GELU: one kernel";
      const Node& mm = m.fused.nodes[0];
      ASSERT_EQ(mm.inputs.size(), 3u);
      EXPECT_EQ(m.fused.value(mm.inputs[2]).dims, bias);
      const auto& post = std::get<MatMulParams>(mm.params).post_ops;
      ASSERT_EQ(post.size(), 1u);
      EXPECT_EQ(post[0].kind, EltwiseKind::kGelu);
      expect_same_results(m);
      // The bias survives the sealed manifest.
      const Graph back = through_sealed_manifest(m.fused);
      ASSERT_EQ(back.nodes.size(), 1u);
      EXPECT_EQ(back.nodes[0].inputs.size(), 3u);
    }
}

TEST(MatMulBias, OtherAddsStayAndABadBiasIsRefusedByName) {
  // A bias that varies along rows, or one wider than the output: not a Linear layer's.
  for (const Dims& bias : {Dims{3, 16}, Dims{1, 1, 1, 16}}) {
    SCOPED_TRACE(dims_to_string(bias));
    Imported m = import_both(linear_gelu_model(bias, false), {2, 3, 8});
    EXPECT_EQ(m.stats.matmul_biases_fused, 0);
    expect_same_results(m);
  }
  // The MatMul's output has another reader.
  OnnxModelBuilder b = linear_gelu_model({16}, false);
  b.output("h");
  EXPECT_EQ(import_both(b, {2, 3, 8}).stats.matmul_biases_fused, 0);
  // A manifest (hostile or broken) whose MatMul bias is not a row of the output.
  Imported m = import_both(linear_gelu_model({16}, false), {2, 3, 8});
  Graph bad = m.fused;
  bad.values[bad.nodes[0].inputs[2]].dims = {3, 16};
  bad.values[bad.nodes[0].inputs[2]].data.resize(3 * 16 * 4);
  try {
    validate_graph(bad);
    ADD_FAILURE() << "a {3, 16} bias was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the bias {3,16} is not a row of the output"), std::string::npos) << e.what();
  }
}

// ---- Swish ----------------------------------------------------------------------------

// x {1, 3, 6, 6} -> Conv (4 channels, 3x3, padded or not) -> "h": the start of the models below.
OnnxModelBuilder conv_into_h(bool padded) {
  OnnxModelBuilder b(13);
  b.input("x", {1, 3, 6, 6});
  OnnxNodeBuilder conv =
      b.node("Conv", {"x", b.constant<float>("w", {4, 3, 3, 3}, random_values(108, 0.5f, 2))}, {"h"});
  if (padded) conv.ints("pads", {1, 1, 1, 1});
  return b;
}

enum class SwishForm {
  kSigmoidSecond,  // Mul(h, Sigmoid(h)): PyTorch's SiLU
  kSigmoidFirst,   // Mul(Sigmoid(h), h)
  kScaledBy,       // Mul(h, Sigmoid(Mul(h, b))): PaddlePaddle's swish (b = 1), quick GELU (1.702)
  kScaledFirst,    // Mul(h, Sigmoid(Mul(b, h)))
};

// Conv {1, 3, 6, 6} -> h, then Swish of h in `form` (b a scalar) into "y".
OnnxModelBuilder swish_model(SwishForm form, float b_value = 1.f) {
  OnnxModelBuilder b = conv_into_h(true);
  std::string z = "h";
  if (form == SwishForm::kScaledBy) b.node("Mul", {"h", scalar(b, "b", b_value)}, {z = "hb"});
  if (form == SwishForm::kScaledFirst) b.node("Mul", {scalar(b, "b", b_value), "h"}, {z = "hb"});
  b.node("Sigmoid", {z}, {"s"});
  b.node("Mul",
         form == SwishForm::kSigmoidFirst ? std::vector<std::string>{"s", "h"} : std::vector<std::string>{"h", "s"},
         {"y"});
  b.output("y");
  return b;
}

TEST(SwishPattern, EverySpellingBecomesOneSwishFusedIntoTheConv) {
  const std::pair<SwishForm, float> forms[] = {{SwishForm::kSigmoidSecond, 1.f},
                                               {SwishForm::kSigmoidFirst, 1.f},
                                               {SwishForm::kScaledBy, 1.f},
                                               {SwishForm::kScaledBy, 1.702f},
                                               {SwishForm::kScaledFirst, -0.5f}};
  for (auto [form, b] : forms) {
    SCOPED_TRACE("form " + std::to_string(static_cast<int>(form)) + " b " + std::to_string(b));
    Imported m = import_both(swish_model(form, b), {1, 3, 6, 6});
    EXPECT_EQ(m.stats.swish_patterns_fused, 1);
    EXPECT_NE(describe(m.stats).find("1 Swish patterns made one op"), std::string::npos) << describe(m.stats);
    ASSERT_EQ(m.fused.nodes.size(), 1u) << "the Conv with Swish as its post-op";
    const auto& post = std::get<ConvParams>(m.fused.nodes[0].params).post_ops;
    ASSERT_EQ(post.size(), 1u);
    EXPECT_EQ(post[0].kind, EltwiseKind::kSwish);
    EXPECT_EQ(post[0].alpha, b);
    RunResult fused = expect_same_results(m);
    bool listed = false;
    for (const StepInfo& s : fused.steps) listed |= s.impl.find("eltwise_swish") != std::string::npos;
    EXPECT_TRUE(listed) << fused.steps[0].name << ": " << fused.steps[0].impl;
  }
}

TEST(SwishPattern, NearMissesAreLeftAlone) {
  {  // the Sigmoid of another value
    OnnxModelBuilder b = conv_into_h(false);
    b.node("Neg", {"h"}, {"g"});
    b.node("Sigmoid", {"g"}, {"s"});
    b.node("Mul", {"h", "s"}, {"y"});
    b.output("y");
    Imported m = import_both(b, {1, 3, 6, 6});
    EXPECT_EQ(m.stats.swish_patterns_fused, 0);
    expect_same_results(m);
  }
  {  // the scale is per channel, not a scalar
    OnnxModelBuilder b = conv_into_h(false);
    b.node("Mul", {"h", b.constant<float>("b", {1, 4, 1, 1}, {1.f, 2.f, 3.f, 4.f})}, {"hb"});
    b.node("Sigmoid", {"hb"}, {"s"});
    b.node("Mul", {"h", "s"}, {"y"});
    b.output("y");
    Imported m = import_both(b, {1, 3, 6, 6});
    EXPECT_EQ(m.stats.swish_patterns_fused, 0);
    expect_same_results(m);
  }
  // The Sigmoid's output is also a graph output, or has another reader.
  OnnxModelBuilder b = swish_model(SwishForm::kSigmoidSecond);
  b.output("s");
  EXPECT_EQ(import_both(b, {1, 3, 6, 6}).stats.swish_patterns_fused, 0);
  OnnxModelBuilder c = swish_model(SwishForm::kScaledBy, 2.f);
  c.node("Neg", {"hb"}, {"other"});
  c.output("other");
  Imported m = import_both(c, {1, 3, 6, 6});
  EXPECT_EQ(m.stats.swish_patterns_fused, 0);
  expect_same_results(m);
}

// ---- Mish -----------------------------------------------------------------------------

TEST(MishPattern, XTimesTanhOfSoftplusBecomesOneMishFusedIntoTheConv) {
  for (bool tanh_first : {false, true}) {
    SCOPED_TRACE(tanh_first ? "Mul(tanh, x)" : "Mul(x, tanh)");
    OnnxModelBuilder b = conv_into_h(true);
    b.node("Softplus", {"h"}, {"sp"});
    b.node("Tanh", {"sp"}, {"t"});
    b.node("Mul", tanh_first ? std::vector<std::string>{"t", "h"} : std::vector<std::string>{"h", "t"}, {"y"});
    b.output("y");
    Imported m = import_both(b, {1, 3, 6, 6});
    EXPECT_EQ(m.stats.mish_patterns_fused, 1);
    EXPECT_NE(describe(m.stats).find("1 Mish patterns made one op"), std::string::npos) << describe(m.stats);
    ASSERT_EQ(m.fused.nodes.size(), 1u);
    const auto& post = std::get<ConvParams>(m.fused.nodes[0].params).post_ops;
    ASSERT_EQ(post.size(), 1u);
    EXPECT_EQ(post[0].kind, EltwiseKind::kMish);
    expect_same_results(m);
  }
  // Near misses: Tanh of another value's Softplus; the Softplus also a graph output.
  for (bool other_value : {false, true}) {
    OnnxModelBuilder b = conv_into_h(false);
    b.node("Neg", {"h"}, {"g"});
    b.node("Softplus", {other_value ? "g" : "h"}, {"sp"});
    b.node("Tanh", {"sp"}, {"t"});
    b.node("Mul", {"h", "t"}, {"y"});
    b.output("y");
    b.output(other_value ? "g" : "sp");
    EXPECT_EQ(import_both(b, {1, 3, 6, 6}).stats.mish_patterns_fused, 0);
  }
}

TEST(GeluPattern, NearMissesAreLeftAlone) {
  // Other constants: not GELU.
  for (auto [sqrt2, half] : {std::pair{1.5f, 0.5f}, std::pair{1.4142135f, 0.4f}, std::pair{1.4142f, 0.5f}}) {
    SCOPED_TRACE("sqrt2 " + std::to_string(sqrt2) + " half " + std::to_string(half));
    Imported m = import_both(gelu_model(GeluForm::kPytorch, sqrt2, half), {2, 3, 8});
    EXPECT_EQ(m.stats.gelu_patterns_fused, 0);
    expect_same_results(m);
    m = import_both(gelu_model(GeluForm::kTanhPow, sqrt2, half), {2, 3, 8});
    EXPECT_EQ(m.stats.gelu_patterns_fused, 0);
    expect_same_results(m);
  }
  // An intermediate is also a graph output, or has another reader: the ops must stay.
  for (const char* shared : {"e", "ep1", "m", "z"}) {
    SCOPED_TRACE(shared);
    OnnxModelBuilder b = gelu_model(GeluForm::kPytorch);
    b.output(shared);
    EXPECT_EQ(import_both(b, {2, 3, 8}).stats.gelu_patterns_fused, 0);
    OnnxModelBuilder c = gelu_model(GeluForm::kPytorch);
    c.node("Neg", {shared}, {"other"});
    c.output("other");
    Imported m = import_both(c, {2, 3, 8});
    EXPECT_EQ(m.stats.gelu_patterns_fused, 0);
    expect_same_results(m);
  }
}

TEST(GeluPattern, TheOnnxGeluOpImportsToTheSameFunctions) {
  for (const char* approximate : {"none", "tanh", "bad"}) {
    SCOPED_TRACE(approximate);
    OnnxModelBuilder b(18);
    b.input("x", {4, 5});
    b.node("Gelu", {"x"}, {"y"}).s("approximate", approximate);
    b.output("y");
    ImportOptions opt;
    opt.input_dims["x"] = {4, 5};
    if (std::string(approximate) == "bad") {
      try {
        import_onnx(b.bytes(), "test", opt);
        ADD_FAILURE() << "no error";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kBadModel);
        EXPECT_NE(std::string(e.what()).find("approximate"), std::string::npos) << e.what();
      }
      continue;
    }
    Graph g = import_onnx(b.bytes(), "test", opt);
    ASSERT_EQ(g.nodes.size(), 1u);
    EltwiseParams p = std::get<EltwiseParams>(g.nodes[0].params);
    EXPECT_EQ(p.kind, std::string(approximate) == "tanh" ? EltwiseKind::kGeluTanh : EltwiseKind::kGelu);
    std::vector<float> x = random_values(20, 2.f, 5);
    RunResult r = run(g, x);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(r.y[i], eltwise_reference(p, x[i]), 1e-5f) << x[i];
  }
}

// A hostile model's long chain of products (each Mul the only reader of the one before):
// the matcher reads product trees a few nodes deep only, so this is linear, no deep
// recursion (200,000 nested levels would overflow the stack).
TEST(GeluPattern, ALongChainOfProductsIsNoDeepRecursion) {
  Graph g;
  ValueId v = g.add_value(Value{"x", DType::kF32, {4}, false, {}});
  g.inputs.push_back(v);
  std::vector<uint8_t> half(4);
  const float h = 0.5f;
  std::memcpy(half.data(), &h, 4);
  ValueId c = g.add_value(Value{"half", DType::kF32, {}, true, half});
  for (int i = 0; i < 200000; ++i) {
    ValueId out = g.add_value(Value{"m" + std::to_string(i), DType::kF32, {4}, false, {}});
    g.nodes.push_back(
        Node{"m" + std::to_string(i), "Mul", OpKind::kBinary, {v, c}, {out}, BinaryParams{BinaryKind::kMul}});
    v = out;
  }
  g.outputs.push_back(v);
  EXPECT_EQ(optimize_graph(g).gelu_patterns_fused, 0);
  EXPECT_EQ(g.nodes.size(), 200000u);
}

// ---- LayerNorm ------------------------------------------------------------------------

struct LayerNormForm {
  Dims x{2, 3, 8};
  std::vector<int64_t> axes{-1};
  bool square_as_product = false;  // d * d instead of Pow(d, 2)
  bool scale = true, bias = true;
  bool commuted = false;          // Add(eps, var), Mul(scale, n), Add(bias, s)
  int64_t second_axes_shift = 0;  // the variance's ReduceMean over other axes (a near miss)
  float epsilon = 1e-5f;
};

// x = Add(input, 0.5) (a runtime producer), then LayerNorm spelled out into "y".
OnnxModelBuilder layer_norm_model(const LayerNormForm& f) {
  OnnxModelBuilder b(13);
  b.input("x", f.x);
  b.node("Add", {"x", scalar(b, "shift", 0.5f)}, {"h"});
  std::vector<int64_t> var_axes = f.axes;
  for (int64_t& a : var_axes) a -= f.second_axes_shift;
  b.node("ReduceMean", {"h"}, {"mean"}).ints("axes", f.axes);
  b.node("Sub", {"h", "mean"}, {"d"});
  if (f.square_as_product)
    b.node("Mul", {"d", "d"}, {"sq"});
  else
    b.node("Pow", {"d", scalar(b, "two", 2.f)}, {"sq"});
  b.node("ReduceMean", {"sq"}, {"var"}).ints("axes", var_axes);
  std::string eps = scalar(b, "eps", f.epsilon);
  b.node("Add", f.commuted ? std::vector<std::string>{eps, "var"} : std::vector<std::string>{"var", eps}, {"ve"});
  b.node("Sqrt", {"ve"}, {"sd"});
  std::string last = "n";
  b.node("Div", {"d", "sd"}, {last});
  int64_t d = 1;
  std::vector<int64_t> normalized;
  for (size_t i = f.x.size() - f.axes.size(); i < f.x.size(); ++i) {
    d *= f.x[i];
    normalized.push_back(f.x[i]);
  }
  auto param = [&](const char* name, const char* op, unsigned seed) {
    std::string c = b.constant<float>(name, normalized, random_values(static_cast<size_t>(d), 1.f, seed));
    std::string out = std::string(name) + "_out";
    b.node(op, f.commuted ? std::vector<std::string>{c, last} : std::vector<std::string>{last, c}, {out});
    last = out;
  };
  if (f.scale) param("scale", "Mul", 11);
  if (f.bias) param("bias", "Add", 12);
  b.node("Identity", {last}, {"y"});
  b.output("y");
  return b;
}

TEST(LayerNormPattern, EverySpellingBecomesOneLayerNormNode) {
  std::vector<LayerNormForm> forms(7);
  forms[1].square_as_product = true;
  forms[2].commuted = true;
  forms[3].bias = false;
  forms[4].scale = false;
  forms[5].scale = forms[5].bias = false;
  forms[6].x = {2, 3, 4, 5};  // the last two axes
  forms[6].axes = {2, 3};
  forms[6].square_as_product = true;
  forms[6].epsilon = 0.1f;
  for (size_t i = 0; i < forms.size(); ++i) {
    SCOPED_TRACE("form " + std::to_string(i));
    const LayerNormForm& f = forms[i];
    Imported m = import_both(layer_norm_model(f), f.x);
    EXPECT_EQ(m.stats.layer_norm_patterns_fused, 1);
    ASSERT_EQ(m.fused.nodes.size(), 2u) << "the Add before it and the LayerNorm";
    const Node& n = m.fused.nodes[1];
    ASSERT_EQ(n.op, OpKind::kLayerNorm);
    EXPECT_EQ(std::get<LayerNormParams>(n.params).axis, static_cast<int64_t>(f.x.size() - f.axes.size()));
    EXPECT_EQ(std::get<LayerNormParams>(n.params).epsilon, f.epsilon);
    EXPECT_EQ(n.inputs.size(), f.bias ? 3u : f.scale ? 2u : 1u);
    EXPECT_EQ(n.inputs.size() > 1 && n.inputs[1] != kNoValue, f.scale);
    EXPECT_NE(describe(m.stats).find("0 GELU patterns, 1 LayerNorm patterns fused"), std::string::npos)
        << describe(m.stats);
    RunResult fused = expect_same_results(m, 2e-5f);
    bool listed = false;  // what `run --verbose` lists
    for (const StepInfo& s : fused.steps)
      listed |=
          s.name.find("(LayerNorm: ") != std::string::npos && s.impl.find("layer_normalization") != std::string::npos;
    EXPECT_TRUE(listed);
  }
}

TEST(LayerNormPattern, NearMissesAreLeftAlone) {
  {
    SCOPED_TRACE("reduced over a dim that is not the last");
    LayerNormForm f;
    f.axes = {1};
    Imported m = import_both(layer_norm_model(f), f.x);
    EXPECT_EQ(m.stats.layer_norm_patterns_fused, 0);
    expect_same_results(m);
  }
  {
    SCOPED_TRACE("the two means over different axes");
    LayerNormForm f;
    f.x = {2, 3, 4, 5};
    f.axes = {2, 3};
    f.second_axes_shift = 1;  // the variance over {1, 2}
    Imported m = import_both(layer_norm_model(f), f.x);
    EXPECT_EQ(m.stats.layer_norm_patterns_fused, 0);
    expect_same_results(m);
  }
  for (const char* shared : {"d", "mean", "var", "sd", "n"}) {
    SCOPED_TRACE(std::string("intermediate '") + shared + "' is a graph output");
    OnnxModelBuilder b = layer_norm_model(LayerNormForm{});
    b.output(shared);
    Imported m = import_both(b, {2, 3, 8});
    // A shared Div output still leaves the normalization itself (without scale and bias).
    EXPECT_EQ(m.stats.layer_norm_patterns_fused, std::string(shared) == "n" ? 1 : 0);
  }
  {
    SCOPED_TRACE("d has another reader");
    OnnxModelBuilder b = layer_norm_model(LayerNormForm{});
    b.node("Neg", {"d"}, {"other"});
    b.output("other");
    Imported m = import_both(b, {2, 3, 8});
    EXPECT_EQ(m.stats.layer_norm_patterns_fused, 0);
    expect_same_results(m);
  }
}

// The same models, sealed: the LayerNorm node's parameters survive the manifest.
TEST(LayerNormPattern, TheFusedNodeSurvivesTheSealedManifest) {
  LayerNormForm f;
  f.x = {2, 3, 4, 5};
  f.axes = {2, 3};
  Imported m = import_both(layer_norm_model(f), f.x);
  const Graph g = through_sealed_manifest(m.fused);
  ASSERT_EQ(g.nodes.size(), m.fused.nodes.size());
  const auto& p = std::get<LayerNormParams>(g.nodes[1].params);
  EXPECT_EQ(p.axis, 2);
  EXPECT_EQ(p.epsilon, f.epsilon);
  EXPECT_EQ(g.nodes[1].inputs, m.fused.nodes[1].inputs);
}

// ONNX LayerNormalization (opset 17): the backend node tests of libonnx-testdata, with the
// Mean and InvStdDev outputs (which teeinfer refuses) removed from each model, compared on Y.
TEST(LayerNormalizationOp, MatchesTheBackendNodeTestsOnY) {
  const fs::path root = "/usr/share/libonnx-testdata/data/node";
  if (!fs::exists(root)) GTEST_SKIP() << root << " missing: install libonnx-testdata";
  const fs::path scratch = fs::temp_directory_path() / ("teeinfer_layer_norm_" + std::to_string(::getpid()));
  int cases = 0;
  for (const auto& e : fs::directory_iterator(root)) {
    std::string name = e.path().filename().string();
    if (name.rfind("test_layer_normalization", 0) != 0 || name.find("expanded") != std::string::npos) continue;
    SCOPED_TRACE(name);
    onnx::ModelProto model;
    std::ifstream in(e.path() / "model.onnx", std::ios::binary);
    ASSERT_TRUE(model.ParseFromIstream(&in));
    auto* node = model.mutable_graph()->mutable_node(0);
    ASSERT_EQ(node->op_type(), "LayerNormalization");
    while (node->output_size() > 1) node->mutable_output()->RemoveLast();
    while (model.graph().output_size() > 1) model.mutable_graph()->mutable_output()->RemoveLast();
    const fs::path dir = scratch / name;
    for (const auto& set : fs::directory_iterator(e.path())) {
      if (!set.is_directory()) continue;
      fs::create_directories(dir / set.path().filename());
      for (const auto& pb : fs::directory_iterator(set.path()))
        if (pb.path().filename().string().rfind("output_", 0) != 0 || pb.path().filename() == "output_0.pb")
          fs::copy_file(pb.path(), dir / set.path().filename() / pb.path().filename());
    }
    std::ofstream out(dir / "model.onnx", std::ios::binary);
    ASSERT_TRUE(model.SerializeToOstream(&out));
    out.close();
    auto r = teeinfer::testing::run_onnx_case(dir.string(), 1e-3, 1e-7);
    EXPECT_EQ(r.kind, teeinfer::testing::CaseResult::kPass) << r.message;
    EXPECT_GT(r.compared, 0);
    ++cases;
  }
  fs::remove_all(scratch);
  EXPECT_GE(cases, 19);
}

TEST(LayerNormalizationOp, UsedMeanOrInvStdDevOutputsAreRefusedByName) {
  for (int extra : {1, 2}) {
    OnnxModelBuilder b(17);
    b.input("x", {2, 6});
    std::vector<std::string> outs{"y", extra == 1 ? "saved_mean" : "", extra == 2 ? "saved_inv_std" : ""};
    while (outs.back().empty()) outs.pop_back();
    b.node("LayerNormalization", {"x", b.constant<float>("w", {6}, random_values(6, 1.f, 3))}, outs);
    b.output("y");
    ImportOptions opt;
    opt.input_dims["x"] = {2, 6};
    try {
      import_onnx(b.bytes(), "test", opt);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
      EXPECT_NE(std::string(e.what()).find(extra == 1 ? "Mean" : "InvStdDev"), std::string::npos) << e.what();
    }
  }
}

// The fuzzing seed of these patterns (tests/onnx_builder.cpp) imports, fuses and runs.
TEST(FusionPatterns, TheFuzzSeedFusesAndRuns) {
  for (const teeinfer::testing::HostileModel& seed : teeinfer::testing::seed_models()) {
    if (seed.name != "seed_fusion_patterns") continue;
    OnnxModelBuilder b(17);
    b.model.ParseFromString(seed.bytes);
    Imported m = import_both(b, seed.input_dims);
    EXPECT_EQ(m.stats.gelu_patterns_fused, 1);
    EXPECT_EQ(m.stats.layer_norm_patterns_fused, 1);
    EXPECT_EQ(m.stats.max_min_clips, 1);
    expect_same_results(m);
    return;
  }
  FAIL() << "no seed_fusion_patterns among the fuzz seeds";
}

// ---- Max / Min with a constant -------------------------------------------------------

OnnxModelBuilder conv_then(const std::vector<std::pair<std::string, float>>& ops, bool tensor_constant = false) {
  OnnxModelBuilder b(13);
  b.input("x", {1, 2, 5, 5});
  b.node("Conv", {"x", b.constant<float>("w", {3, 2, 3, 3}, random_values(54, 0.4f, 9))}, {"c0"})
      .ints("pads", {1, 1, 1, 1});
  std::string last = "c0";
  for (size_t i = 0; i < ops.size(); ++i) {
    std::string c = tensor_constant ? b.constant<float>("k" + std::to_string(i), {3, 1, 1}, {ops[i].second, 0.f, 1.f})
                                    : scalar(b, "k" + std::to_string(i), ops[i].second);
    std::string out = i + 1 == ops.size() ? "y" : "c" + std::to_string(i + 1);
    b.node(ops[i].first, i % 2 ? std::vector<std::string>{c, last} : std::vector<std::string>{last, c}, {out});
    last = out;
  }
  b.output("y");
  return b;
}

TEST(MaxMinPattern, MaxOrMinWithAConstantBecomesAFusedClip) {
  struct Case {
    std::vector<std::pair<std::string, float>> ops;
    EltwiseParams want;
  };
  const Case cases[] = {
      {{{"Max", 0.f}}, {EltwiseKind::kRelu, 0.f, 0.f}},
      {{{"Max", -0.5f}}, {EltwiseKind::kClip, -0.5f, INFINITY}},
      {{{"Min", 0.25f}}, {EltwiseKind::kClip, -INFINITY, 0.25f}},
      {{{"Max", -1.f}, {"Min", 2.f}}, {EltwiseKind::kClip, -1.f, 2.f}},
      {{{"Min", 6.f}, {"Max", 0.f}}, {EltwiseKind::kClip, 0.f, 6.f}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.ops[0].first + " " + std::to_string(c.ops[0].second));
    Imported m = import_both(conv_then(c.ops), {1, 2, 5, 5});
    EXPECT_EQ(m.stats.max_min_clips, static_cast<int>(c.ops.size()));
    ASSERT_EQ(m.fused.nodes.size(), 1u) << "the Conv with the Clip as its post-op";
    const auto& post = std::get<ConvParams>(m.fused.nodes[0].params).post_ops;
    ASSERT_EQ(post.size(), 1u);
    EXPECT_EQ(post[0].kind, c.want.kind);
    EXPECT_EQ(post[0].alpha, c.want.alpha);
    EXPECT_EQ(post[0].beta, c.want.beta);
    EXPECT_NE(describe(m.stats).find("Max/Min with a constant made Clip"), std::string::npos) << describe(m.stats);
    expect_same_results(m);
  }
}

TEST(MaxMinPattern, NearMissesAreLeftAlone) {
  {
    SCOPED_TRACE("a constant of different values");
    Imported m = import_both(conv_then({{"Max", -1.f}}, true), {1, 2, 5, 5});
    EXPECT_EQ(m.stats.max_min_clips, 0);
    expect_same_results(m);
  }
  {
    SCOPED_TRACE("bounds that cross: two Clips, not one");
    Imported m = import_both(conv_then({{"Max", 2.f}, {"Min", 1.f}}), {1, 2, 5, 5});
    EXPECT_EQ(m.stats.max_min_clips, 2);
    EXPECT_EQ(m.fused.nodes.size(), 2u);
    expect_same_results(m);
  }
}

}  // namespace
