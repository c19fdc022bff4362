// The math ops' import forms the ONNX backend tests do not reach (they bind every input but
// the first as a constant): Clip with bounds computed at run time, Pow with a runtime
// exponent, variadic Max/Min/Sum/Mean with constant operands, opset-18 Reduce axes inputs,
// PRelu's per-channel slope of opset 6; the hand-written functions staying out of post-ops;
// the Reduce kernels (oneDNN where it has a fast kernel, the hand-written one otherwise)
// against a scalar reference; and hostile attributes.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "common/error.h"
#include "enclave/enclave_session.h"
#include "host/graph_passes.h"
#include "host/onnx_import.h"
#include "onnx_builder.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;
using teeinfer::testing::OnnxModelBuilder;

namespace {

struct Input {
  Dims dims;
  std::vector<float> data;
};

Graph import(const OnnxModelBuilder& b, const std::map<std::string, Input>& inputs) {
  ImportOptions opt;
  for (const auto& [name, in] : inputs) opt.input_dims[name] = in.dims;
  return import_onnx(b.bytes(), "test", opt);
}

// Runs the model (optimised, as the CLI does); returns its first output and the graph run.
OutputTensor run(const OnnxModelBuilder& b, const std::map<std::string, Input>& inputs, Graph* out = nullptr) {
  Graph g = import(b, inputs);
  optimize_graph(g);
  NativePlatform platform;
  EnclaveSession s(g, platform);
  std::vector<TensorView> views;
  for (ValueId id : g.inputs) {
    const Input& in = inputs.at(g.value(id).name);
    views.push_back(TensorView{DType::kF32, in.dims, const_cast<float*>(in.data.data()), g.value(id).name});
  }
  OutputTensor y = s.run(views).at(0);
  if (out) *out = std::move(g);
  return y;
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol * (1.f + std::fabs(want[i]))) << i;
}

int count_ops(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& node : g.nodes) n += node.op == op;
  return n;
}

TEST(MathOps, ClipWithBoundsComputedAtRunTimeIsMaxThenMin) {
  OnnxModelBuilder b(13);
  b.input("x", {2, 3});
  b.input("lo", {});
  b.input("hi", {});
  b.node("Clip", {"x", "lo", "hi"}, {"y"});
  b.output("y");
  std::vector<float> x = {-3.f, -0.5f, 0.f, 0.7f, 2.f, 9.f};
  Graph g;
  OutputTensor y = run(b, {{"x", {{2, 3}, x}}, {"lo", {{}, {-1.f}}}, {"hi", {{}, {1.5f}}}}, &g);
  expect_near(y.data, {-1.f, -0.5f, 0.f, 0.7f, 1.5f, 1.5f});
  EXPECT_EQ(count_ops(g, OpKind::kBinary), 2);
  // Only a computed max: one Min node; the constant min is an operand.
  OnnxModelBuilder c(13);
  c.input("x", {6});
  c.input("hi", {1});
  std::string lo = c.constant<float>("lo", {}, {0.f});
  c.node("Clip", {"x", lo, "hi"}, {"y"});
  c.output("y");
  expect_near(run(c, {{"x", {{6}, x}}, {"hi", {{1}, {0.5f}}}}).data, {0.f, 0.f, 0.f, 0.5f, 0.5f, 0.5f});
  // Bounds must be scalars.
  OnnxModelBuilder d(13);
  d.input("x", {6});
  d.input("hi", {2});
  d.node("Clip", {"x", "", "hi"}, {"y"});
  d.output("y");
  EXPECT_THROW(import(d, {{"x", {{6}, {}}}, {"hi", {{2}, {}}}}), Error);
}

TEST(MathOps, PowWithAConstantScalarExponentIsAnEltwiseOtherwiseABinary) {
  std::vector<float> x = {0.5f, 1.f, 2.f, 3.f};
  OnnxModelBuilder b(13);
  b.input("x", {4});
  b.node("Pow", {"x", b.constant<int64_t>("e", {}, {3})}, {"y"});
  b.output("y");
  Graph g;
  expect_near(run(b, {{"x", {{4}, x}}}, &g).data, {0.125f, 1.f, 8.f, 27.f});
  EXPECT_EQ(count_ops(g, OpKind::kEltwise), 1);
  OnnxModelBuilder c(13);
  c.input("x", {2, 2});
  c.input("e", {2});
  c.node("Pow", {"x", "e"}, {"y"});
  c.output("y");
  expect_near(run(c, {{"x", {{2, 2}, x}}, {"e", {{2}, {2.f, -1.f}}}}, &g).data, {0.25f, 1.f, 4.f, 1.f / 3.f});
  EXPECT_EQ(count_ops(g, OpKind::kBinary), 1);
}

TEST(MathOps, VariadicMaxMinSumMeanBroadcastWithConstants) {
  std::vector<float> x = {-2.f, 0.f, 1.f, 5.f};
  auto model = [](const std::string& op) {
    OnnxModelBuilder b(13);
    b.input("x", {2, 2});
    std::string c = b.constant<float>("c", {2}, {0.5f, 2.f});
    std::string s = b.constant<float>("s", {}, {1.f});
    b.node(op, {"x", c, s}, {"y"});
    b.output("y");
    return b;
  };
  expect_near(run(model("Max"), {{"x", {{2, 2}, x}}}).data, {1.f, 2.f, 1.f, 5.f});
  expect_near(run(model("Min"), {{"x", {{2, 2}, x}}}).data, {-2.f, 0.f, 0.5f, 1.f});
  expect_near(run(model("Sum"), {{"x", {{2, 2}, x}}}).data, {-0.5f, 3.f, 2.5f, 8.f});
  expect_near(run(model("Mean"), {{"x", {{2, 2}, x}}}).data, {-0.5f / 3, 1.f, 2.5f / 3, 8.f / 3});
  // Max of constants only (shape arithmetic) folds at import.
  OnnxModelBuilder f(13);
  f.input("x", {2, 14});
  std::string a = f.constant<int64_t>("a", {2}, {1, 7});
  std::string bb = f.constant<int64_t>("b", {2}, {4, 2});
  f.node("Max", {a, bb}, {"shape"});
  f.node("Reshape", {"x", "shape"}, {"y"});
  f.output("y");
  Graph g = import(f, {{"x", {{2, 14}, {}}}});
  EXPECT_EQ(g.value(g.outputs[0]).dims, (Dims{4, 7}));
  EXPECT_EQ(count_ops(g, OpKind::kBinary), 0);
}

// Scalar reference of an ONNX reduction.
std::vector<float> reference_reduce(const std::string& op, const Dims& x, const std::vector<float>& v,
                                    const std::vector<int64_t>& axes) {
  Dims kept = x;
  for (int64_t a : axes) kept[static_cast<size_t>(a)] = 1;
  int64_t outs = std::accumulate(kept.begin(), kept.end(), int64_t{1}, std::multiplies<>());
  std::vector<std::vector<double>> groups(static_cast<size_t>(outs));
  for (size_t e = 0; e < v.size(); ++e) {
    int64_t rest = static_cast<int64_t>(e), off = 0, stride = 1;
    for (size_t i = x.size(); i-- > 0;) {
      int64_t idx = rest % x[i];
      rest /= x[i];
      if (kept[i] != 1 || x[i] == 1) off += idx * stride;
      stride *= kept[i];
    }
    groups[static_cast<size_t>(off)].push_back(v[e]);
  }
  std::vector<float> y;
  for (const auto& g : groups) {
    double sum = 0, sq = 0, l1 = 0, prod = 1, mx = -INFINITY, mn = INFINITY;
    for (double d : g) sum += d, sq += d * d, l1 += std::fabs(d), prod *= d, mx = std::max(mx, d), mn = std::min(mn, d);
    double lse = 0;
    for (double d : g) lse += std::exp(d - mx);
    double r = op == "ReduceSum"         ? sum
               : op == "ReduceMean"      ? sum / static_cast<double>(g.size())
               : op == "ReduceMax"       ? mx
               : op == "ReduceMin"       ? mn
               : op == "ReduceProd"      ? prod
               : op == "ReduceL1"        ? l1
               : op == "ReduceL2"        ? std::sqrt(sq)
               : op == "ReduceSumSquare" ? sq
               : op == "ReduceLogSum"    ? std::log(sum)
                                         : mx + std::log(lse);
    y.push_back(static_cast<float>(r));
  }
  return y;
}

TEST(MathOps, EveryReductionOverSeveralAxesMatchesTheReference) {
  const std::vector<std::string> ops = {"ReduceSum",    "ReduceMean",     "ReduceMax", "ReduceMin",
                                        "ReduceProd",   "ReduceL1",       "ReduceL2",  "ReduceSumSquare",
                                        "ReduceLogSum", "ReduceLogSumExp"};
  const Dims x = {2, 3, 4, 5};
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.5f, 1.5f);  // positive (LogSum), near 1 (Prod)
  std::vector<float> v(120);
  for (float& f : v) f = u(rng);
  const std::vector<std::vector<int64_t>> axis_sets = {{3}, {1}, {0, 2}, {1, 2, 3}, {0, 1, 2, 3}, {-1, -3}};
  for (const std::string& op : ops)
    for (const auto& axes : axis_sets)
      for (bool keepdims : {true, false}) {
        OnnxModelBuilder b(18);  // opset 18: axes as an input
        b.input("x", {2, 3, 4, 5});
        b.node(op, {"x", b.constant<int64_t>("axes", {static_cast<int64_t>(axes.size())}, axes)}, {"y"})
            .i("keepdims", keepdims);
        b.output("y");
        std::vector<int64_t> norm;
        for (int64_t a : axes) norm.push_back(a < 0 ? a + 4 : a);
        std::sort(norm.begin(), norm.end());
        OutputTensor y = run(b, {{"x", {x, v}}});
        SCOPED_TRACE(op + " axes " + std::to_string(axes.size()) + (keepdims ? " keepdims" : ""));
        Dims want_dims;
        for (int64_t i = 0; i < 4; ++i) {
          bool reduced = std::find(norm.begin(), norm.end(), i) != norm.end();
          if (!reduced || keepdims) want_dims.push_back(reduced ? 1 : x[static_cast<size_t>(i)]);
        }
        EXPECT_EQ(y.dims, want_dims);
        expect_near(y.data, reference_reduce(op, x, v, norm), 1e-4f);
      }
}

TEST(MathOps, ReduceAxesFormsAcrossOpsets) {
  std::vector<float> v = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f};
  // No axes: all of them.
  OnnxModelBuilder all(11);
  all.input("x", {2, 3});
  all.node("ReduceMax", {"x"}, {"y"}).i("keepdims", 0);
  all.output("y");
  OutputTensor y = run(all, {{"x", {{2, 3}, v}}});
  EXPECT_EQ(y.dims, Dims{});
  expect_near(y.data, {6.f});
  // ReduceSum 13: axes an input; empty with noop_with_empty_axes: the input itself.
  OnnxModelBuilder noop(13);
  noop.input("x", {2, 3});
  noop.node("ReduceSum", {"x"}, {"y"}).i("noop_with_empty_axes", 1);
  noop.output("y");
  Graph g = import(noop, {{"x", {{2, 3}, v}}});
  EXPECT_EQ(count_ops(g, OpKind::kReduce), 0);
  // Attribute axes before opset 18, negative ones counting from the end.
  OnnxModelBuilder attr(13);
  attr.input("x", {2, 3});
  attr.node("ReduceMean", {"x"}, {"y"}).ints("axes", {-1});
  attr.output("y");
  y = run(attr, {{"x", {{2, 3}, v}}});
  EXPECT_EQ(y.dims, (Dims{2, 1}));
  expect_near(y.data, {2.f, 5.f});
}

TEST(MathOps, HostileReduceAxesAreRejectedNamingTheNode) {
  for (const std::vector<int64_t>& axes : {std::vector<int64_t>{2}, {-3}, {0, 0}, {1, -1}}) {
    OnnxModelBuilder b(13);
    b.input("x", {2, 3});
    b.node("ReduceMean", {"x"}, {"y"}).ints("axes", axes);
    b.output("y");
    try {
      import(b, {{ "x", { {2, 3}, {} } }});
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBadModel) << e.what();
      EXPECT_NE(std::string(e.what()).find("ReduceMean"), std::string::npos) << e.what();
    }
  }
  OnnxModelBuilder b(18);
  b.input("x", {2, 3});
  b.input("axes", {1}, onnx::TensorProto::INT64);
  b.node("ReduceMean", {"x", "axes"}, {"y"});
  b.output("y");
  EXPECT_THROW(import(b, {{"x", {{2, 3}, {}}}, {"axes", {{1}, {}}}}), Error) << "computed axes";
}

TEST(MathOps, PReluBeforeOpset7HasAPerChannelSlope) {
  OnnxModelBuilder b(6);
  b.input("x", {1, 2, 2});
  b.node("PRelu", {"x", b.constant<float>("slope", {2}, {0.5f, 0.25f})}, {"y"});
  b.output("y");
  expect_near(run(b, {{"x", {{1, 2, 2}, {-2.f, 2.f, -4.f, 4.f}}}}).data, {-1.f, 2.f, -1.f, 4.f});
  // From opset 7 the slope broadcasts numpy-style (here along the last dim).
  OnnxModelBuilder c(9);
  c.input("x", {1, 2, 2});
  c.node("PRelu", {"x", c.constant<float>("slope", {2}, {0.5f, 0.25f})}, {"y"});
  c.output("y");
  expect_near(run(c, {{"x", {{1, 2, 2}, {-2.f, 2.f, -4.f, 4.f}}}}).data, {-1.f, 2.f, -2.f, 4.f});
  // A slope that does not broadcast to X.
  OnnxModelBuilder d(9);
  d.input("x", {1, 2, 2});
  d.node("PRelu", {"x", d.constant<float>("slope", {3}, {0.5f, 0.25f, 1.f})}, {"y"});
  d.output("y");
  EXPECT_THROW(import(d, {{"x", {{1, 2, 2}, {}}}}), Error);
}

TEST(MathOps, HandWrittenFunctionsStayNodesAfterAConv) {
  for (const char* name : {"Erf", "Floor", "Log", "Tanh"}) {
    const std::string op = name;
    OnnxModelBuilder b(13);
    b.input("x", {1, 1, 3, 3});
    std::string w = b.constant<float>("w", {1, 1, 1, 1}, {0.5f});
    b.node("Conv", {"x", w}, {"c"});
    b.node(op, {"c"}, {"y"});
    b.output("y");
    std::vector<float> x = {0.1f, 0.7f, 1.3f, 2.9f, 3.1f, 0.2f, 0.4f, 5.f, 6.f};
    Graph g;
    OutputTensor y = run(b, {{"x", {{1, 1, 3, 3}, x}}}, &g);
    bool hand_written = op != "Tanh";
    EXPECT_EQ(count_ops(g, OpKind::kEltwise), hand_written ? 1 : 0) << op << " (Tanh fuses as a post-op)";
    for (size_t i = 0; i < x.size(); ++i) {
      float c = x[i] * 0.5f;
      float want = op == "Erf" ? std::erf(c) : op == "Floor" ? std::floor(c) : op == "Log" ? std::log(c) : std::tanh(c);
      EXPECT_NEAR(y.data[i], want, 1e-6f * (1 + std::fabs(want))) << op << "(" << c << ")";
    }
  }
}

TEST(MathOps, RoundHalvesToEven) {
  OnnxModelBuilder b(13);
  b.input("x", {8});
  b.node("Round", {"x"}, {"y"});
  b.output("y");
  expect_near(run(b, {{"x", {{8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4999f, 2.5001f}}}}).data,
              {0.f, 2.f, 2.f, -0.f, -2.f, -2.f, 2.f, 3.f});
}

}  // namespace

// Comparisons on runtime tensors give a float32 mask of 1 and 0, which a Cast to float and a
// Mul read as the bool they stand for (M-LSD's peak picking: x * (MaxPool(x) == x)); each
// against the C++ comparison, with equal values present, broadcasting a constant operand.
TEST(MathOps, ComparisonsOnRuntimeTensorsGiveMasks) {
  const std::vector<float> x = {0.f, 1.f, -1.f, 2.f, 2.f, 0.5f, -3.f, 1.f};
  struct Case {
    const char* op;
    bool (*cmp)(float, float);
  };
  const Case cases[] = {{"Equal", [](float a, float b) { return a == b; }},
                        {"Greater", [](float a, float b) { return a > b; }},
                        {"GreaterOrEqual", [](float a, float b) { return a >= b; }},
                        {"Less", [](float a, float b) { return a < b; }},
                        {"LessOrEqual", [](float a, float b) { return a <= b; }}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    OnnxModelBuilder b(13);
    b.input("x", {1, 2, 2, 2});
    std::string t = b.constant<float>("t", {1}, {1.f});
    b.node(c.op, {"x", t}, {"m"});
    b.node("Cast", {"m"}, {"mf"}).i("to", onnx::TensorProto::FLOAT);
    b.node("Mul", {"x", "mf"}, {"y"});
    b.output("y");
    std::vector<float> want;
    for (float v : x) want.push_back(c.cmp(v, 1.f) ? v : 0.f);
    expect_near(run(b, {{"x", {{1, 2, 2, 2}, x}}}).data, want, 0.f);
  }
  // Peak picking: y = x where x is the maximum of its 3x3 neighbourhood, else 0.
  OnnxModelBuilder b(13);
  b.input("x", {1, 1, 3, 3});
  b.node("MaxPool", {"x"}, {"p"}).ints("kernel_shape", {3, 3}).ints("pads", {1, 1, 1, 1});
  b.node("Equal", {"x", "p"}, {"m"});
  b.node("Cast", {"m"}, {"mf"}).i("to", onnx::TensorProto::FLOAT);
  b.node("Mul", {"x", "mf"}, {"y"});
  b.output("y");
  std::vector<float> in = {1, 2, 1, 0, 0, 0, 5, 0, 3};
  expect_near(run(b, {{"x", {{1, 1, 3, 3}, in}}}).data, {0, 2, 0, 0, 0, 0, 5, 0, 3}, 0.f);
}
