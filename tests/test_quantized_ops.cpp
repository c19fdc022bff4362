// ONNX linear quantization (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
// ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul; host/quantize_linear.h) beyond
// what the backend node tests reach: rounding half to even and saturation at both ends, on
// runtime tensors and folded; per-axis scales and zero points; the dynamically quantized
// convolution as exporters write it (DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul ->
// Add) against an integer reference; per-channel QLinearConv and per-row/column
// QLinearMatMul; and what is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "common/error.h"
#include "enclave/enclave_session.h"
#include "host/graph_passes.h"
#include "host/onnx_import.h"
#include "host/quantize_linear.h"
#include "onnx_builder.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;
using teeinfer::testing::OnnxModelBuilder;

namespace {

struct Input {
  Dims dims;
  std::vector<float> data;
};

// Imports and runs the model (optimised, as the CLI does); returns every output.
std::vector<OutputTensor> run(const OnnxModelBuilder& b, const std::map<std::string, Input>& inputs) {
  ImportOptions opt;
  for (const auto& [name, in] : inputs) opt.input_dims[name] = in.dims;
  Graph g = import_onnx(b.bytes(), "test", opt);
  optimize_graph(g);
  NativePlatform platform;
  EnclaveSession s(g, platform);
  std::vector<TensorView> views;
  for (ValueId id : g.inputs) {
    const Input& in = inputs.at(g.value(id).name);
    views.push_back(TensorView{DType::kF32, in.dims, const_cast<float*>(in.data.data()), g.value(id).name});
  }
  return s.run(views);
}

// The model's outputs with every input bound as a constant: the import-time folder.
std::vector<std::vector<float>> fold(const OnnxModelBuilder& b, const std::map<std::string, Input>& inputs) {
  ImportOptions opt;
  for (const auto& [name, in] : inputs) {
    Value v;
    v.name = name;
    v.dtype = DType::kF32;
    v.dims = in.dims;
    v.data.resize(in.data.size() * 4);
    std::memcpy(v.data.data(), in.data.data(), v.data.size());
    opt.constant_inputs[name] = std::move(v);
  }
  Graph g = import_onnx(b.bytes(), "test", opt);
  std::vector<std::vector<float>> out;
  for (ValueId id : g.outputs) {
    const Value& v = g.value(id);
    EXPECT_TRUE(v.is_constant) << v.name;
    out.push_back(float_values(v, "test"));
  }
  return out;
}

void expect_equal(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << "element " << i;
}

// Both the runtime lowering and the folder compute `want` for input x.
void expect_both_ways(const OnnxModelBuilder& b, const Input& x, const std::vector<float>& want) {
  SCOPED_TRACE("runtime");
  expect_equal(run(b, {{"x", x}}).at(0).data, want);
  SCOPED_TRACE("folded");
  expect_equal(fold(b, {{"x", x}}).at(0), want);
}

template <class T>
OnnxModelBuilder quantize_model(float scale, T zero_point, const Dims& dims) {
  OnnxModelBuilder b(13);
  b.input("x", dims);
  std::string s = b.constant<float>("s", {}, {scale});
  std::string z = b.constant<T>("z", {}, {zero_point});
  b.node("QuantizeLinear", {"x", s, z}, {"y"});
  b.output("y");
  return b;
}

TEST(QuantizedOps, QuantizeLinearRoundsHalvesToEven) {
  std::vector<float> x = {0.5f, 1.5f, 2.5f, 3.5f, -0.5f, -1.5f, -2.5f, 0.49999997f, 5.f};
  // x / 1 rounded half to even, + 0 (int8).
  expect_both_ways(quantize_model<int8_t>(1.f, 0, {9}), {{9}, x}, {0, 2, 2, 4, 0, -2, -2, 0, 5});
  // x / 2 = 0.25, 0.75, 1.25, 1.75, -0.25, -0.75, -1.25, ~0.25, 2.5: + 10 (uint8).
  expect_both_ways(quantize_model<uint8_t>(2.f, 10, {9}), {{9}, x}, {10, 11, 11, 12, 10, 9, 9, 10, 12});
}

TEST(QuantizedOps, QuantizeLinearSaturatesAtBothEnds) {
  std::vector<float> x = {-1000.f, -129.f, -128.f, -127.6f, 126.6f, 127.f, 128.f, 1000.f};
  expect_both_ways(quantize_model<int8_t>(1.f, 0, {8}), {{8}, x}, {-128, -128, -128, -128, 127, 127, 127, 127});
  // uint8 with zero point 128: x + 128 clamped to [0, 255].
  expect_both_ways(quantize_model<uint8_t>(1.f, 128, {8}), {{8}, x}, {0, 0, 0, 0, 255, 255, 255, 255});
}

TEST(QuantizedOps, PerAxisScalesAndZeroPoints) {
  // x {2, 3, 2} quantized along axis 1 (3 scales, 3 int8 zero points), then dequantized.
  OnnxModelBuilder b(13);
  b.input("x", {2, 3, 2});
  std::string s = b.constant<float>("s", {3}, {0.5f, 1.f, 4.f});
  std::string z = b.constant<int8_t>("z", {3}, {-3, 0, 7});
  b.node("QuantizeLinear", {"x", s, z}, {"q"}).i("axis", 1);
  b.node("DequantizeLinear", {"q", s, z}, {"y"}).i("axis", 1);
  b.output("q");
  b.output("y");
  std::vector<float> x = {1.f, -1.25f, 3.f, 200.f, 10.f, -600.f, 0.25f, 0.75f, -2.5f, 2.5f, 6.f, 1e6f};
  std::vector<float> q(12), y(12);
  const float scale[3] = {0.5f, 1.f, 4.f}, zp[3] = {-3.f, 0.f, 7.f};
  for (size_t i = 0; i < 12; ++i) {
    size_t c = (i / 2) % 3;
    q[i] = std::clamp(std::nearbyint(x[i] / scale[c]) + zp[c], -128.f, 127.f);
    y[i] = (q[i] - zp[c]) * scale[c];
  }
  std::vector<OutputTensor> got = run(b, {{"x", {{2, 3, 2}, x}}});
  expect_equal(got.at(0).data, q);
  expect_equal(got.at(1).data, y);
  std::vector<std::vector<float>> folded = fold(b, {{"x", {{2, 3, 2}, x}}});
  expect_equal(folded.at(0), q);
  expect_equal(folded.at(1), y);
}

TEST(QuantizedOps, DequantizeLinearOfConstantsFolds) {
  OnnxModelBuilder b(13);
  b.input("x", {4});
  std::string q = b.constant<uint8_t>("q", {4}, {0, 10, 128, 255});
  std::string s = b.constant<float>("s", {}, {0.5f});
  std::string z = b.constant<uint8_t>("z", {}, {128});
  b.node("DequantizeLinear", {q, s, z}, {"w"});
  b.node("Add", {"x", "w"}, {"y"});
  b.output("y");
  ImportOptions opt;
  opt.input_dims["x"] = {4};
  Graph g = import_onnx(b.bytes(), "test", opt);
  ASSERT_EQ(g.nodes.size(), 1u);  // the Add: the DequantizeLinear folded
  expect_equal(run(b, {{"x", {{4}, {0, 0, 0, 0}}}}).at(0).data, {-64.f, -59.f, 0.f, 63.5f});
}

// DynamicQuantizeLinear's outputs computed independently of the code under test.
struct Dynamic {
  std::vector<float> q;
  float scale, zero_point;
};
Dynamic dynamic_reference(const std::vector<float>& x) {
  float lo = std::min(0.f, *std::min_element(x.begin(), x.end()));
  float hi = std::max(0.f, *std::max_element(x.begin(), x.end()));
  Dynamic d;
  d.scale = hi == lo ? 1.f : (hi - lo) / 255.f;
  d.zero_point = std::nearbyint(std::clamp(-lo / d.scale, 0.f, 255.f));
  for (float v : x) d.q.push_back(std::clamp(std::nearbyint(v / d.scale) + d.zero_point, 0.f, 255.f));
  return d;
}

OnnxModelBuilder dynamic_model(const Dims& dims) {
  OnnxModelBuilder b(13);
  b.input("x", dims);
  b.node("DynamicQuantizeLinear", {"x"}, {"y", "y_scale", "y_zero_point"});
  b.output("y");
  b.output("y_scale");
  b.output("y_zero_point");
  return b;
}

TEST(QuantizedOps, DynamicQuantizeLinearMatchesTheSpecFormula) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-3.f, 5.f);
  for (bool positive : {false, true}) {
    std::vector<float> x(60);
    for (float& v : x) v = positive ? std::fabs(u(rng)) + 1.f : u(rng);
    Dynamic want = dynamic_reference(x);
    std::vector<OutputTensor> got = run(dynamic_model({3, 4, 5}), {{"x", {{3, 4, 5}, x}}});
    expect_equal(got.at(0).data, want.q);
    EXPECT_EQ(got.at(1).data.at(0), want.scale);
    EXPECT_EQ(got.at(2).data.at(0), want.zero_point);
    if (positive) {
      EXPECT_EQ(want.zero_point, 0.f);  // the range is widened to include 0
    }
  }
}

TEST(QuantizedOps, DynamicQuantizeLinearOfZerosHasScaleOne) {
  std::vector<OutputTensor> got = run(dynamic_model({2, 3}), {{"x", {{2, 3}, std::vector<float>(6, 0.f)}}});
  expect_equal(got.at(0).data, std::vector<float>(6, 0.f));
  EXPECT_EQ(got.at(1).data.at(0), 1.f);
  EXPECT_EQ(got.at(2).data.at(0), 0.f);
}

// The convolution as onnxruntime's dynamic quantizer writes it (IS-Net's 119 of them):
// DynamicQuantizeLinear -> ConvInteger (uint8 weight, zero point) -> Cast -> Mul by
// x_scale * w_scale -> Add bias, against an exact integer reference of the same graph.
TEST(QuantizedOps, DynamicallyQuantizedConvMatchesTheIntegerReference) {
  const int64_t ci = 3, co = 4, h = 6, w = 5, k = 3;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.f, 2.f);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<float> x(static_cast<size_t>(ci * h * w));
  for (float& v : x) v = u(rng);
  std::vector<uint8_t> wq(static_cast<size_t>(co * ci * k * k));
  for (uint8_t& v : wq) v = static_cast<uint8_t>(byte(rng));
  const uint8_t w_zp = 131;
  const float w_scale = 0.0123f;
  std::vector<float> bias = {0.5f, -1.f, 0.f, 2.f};

  OnnxModelBuilder b(15);
  b.input("x", {1, ci, h, w});
  b.constant<uint8_t>("w", {co, ci, k, k}, wq);
  b.constant<uint8_t>("w_zp", {}, {w_zp});
  b.constant<float>("w_scale", {}, {w_scale});
  b.constant<float>("bias", {co, 1, 1}, bias);
  b.node("DynamicQuantizeLinear", {"x"}, {"xq", "x_scale", "x_zp"});
  b.node("Mul", {"x_scale", "w_scale"}, {"scale"});
  b.node("ConvInteger", {"xq", "w", "x_zp", "w_zp"}, {"acc"}).ints("pads", {1, 1, 1, 1});
  b.node("Cast", {"acc"}, {"accf"}).i("to", onnx::TensorProto::FLOAT);
  b.node("Mul", {"accf", "scale"}, {"scaled"});
  b.node("Add", {"scaled", "bias"}, {"y"});
  b.output("y");

  Dynamic d = dynamic_reference(x);
  std::vector<float> want(static_cast<size_t>(co * h * w));
  for (int64_t o = 0; o < co; ++o)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        int64_t acc = 0;  // padding is the zero point: (x - x_zp) is 0 there
        for (int64_t c = 0; c < ci; ++c)
          for (int64_t di = 0; di < k; ++di)
            for (int64_t dj = 0; dj < k; ++dj) {
              int64_t y = i + di - 1, xx = j + dj - 1;
              if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
              int64_t xv = static_cast<int64_t>(d.q[static_cast<size_t>((c * h + y) * w + xx)]) -
                           static_cast<int64_t>(d.zero_point);
              int64_t wv = wq[static_cast<size_t>(((o * ci + c) * k + di) * k + dj)] - int64_t{w_zp};
              acc += xv * wv;
            }
        want[static_cast<size_t>((o * h + i) * w + j)] =
            static_cast<float>(acc) * (d.scale * w_scale) + bias[static_cast<size_t>(o)];
      }
  std::vector<float> got = run(b, {{"x", {{1, ci, h, w}, x}}}).at(0).data;
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5f * (1.f + std::fabs(want[i]))) << i;
}

// A ConvInteger weight minus its zero point is sealed as int8 (weight-only Int8Weights,
// scale 1) when every value fits [-128, 127], else as float32; the results are the same.
TEST(QuantizedOps, ConvIntegerWeightsStayInt8WhereTheyFit) {
  for (uint8_t w_zp : {uint8_t{128}, uint8_t{0}}) {
    OnnxModelBuilder b(13);
    b.input("x", {1, 2, 3, 3});
    b.constant<float>("one", {}, {1.f});
    b.constant<uint8_t>("w", {2, 2, 1, 1}, {0, 255, 128, 200});
    b.constant<uint8_t>("w_zp", {}, {w_zp});
    b.node("QuantizeLinear", {"x", "one"}, {"xq"});
    b.node("ConvInteger", {"xq", "w", "", "w_zp"}, {"y"});
    b.output("y");
    ImportOptions opt;
    opt.input_dims["x"] = {1, 2, 3, 3};
    Graph g = import_onnx(b.bytes(), "test", opt);
    const Node& conv = g.nodes.back();
    ASSERT_EQ(conv.op, OpKind::kConv);
    const bool fits = w_zp == 128;  // 0..255 - 128 fits int8; 200 - 0 does not
    EXPECT_EQ(g.value(conv.inputs[1]).dtype, fits ? DType::kS8 : DType::kF32);
    EXPECT_EQ(int8_weights_of(conv) != nullptr, fits);
    std::vector<float> x(18);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i * 13 % 256);
    const float w[2][2] = {{0.f - w_zp, 255.f - w_zp}, {128.f - w_zp, 200.f - w_zp}};
    std::vector<float> got = run(b, {{"x", {{1, 2, 3, 3}, x}}}).at(0).data;
    for (size_t o = 0; o < 2; ++o)
      for (size_t p = 0; p < 9; ++p) EXPECT_EQ(got.at(o * 9 + p), w[o][0] * x[p] + w[o][1] * x[9 + p]) << o << "," << p;
  }
}

TEST(QuantizedOps, QLinearConvWithPerChannelWeightScales) {
  // 1x1 conv, 2 input and 2 output channels, int8 weight with per-channel scales and zero
  // points, an int32 bias, an int8 output: a hand-checked reference.
  OnnxModelBuilder b(13);
  b.input("x", {1, 2, 1, 3});
  b.constant<float>("x_scale", {}, {0.5f});
  b.constant<uint8_t>("x_zp", {}, {10});
  b.constant<int8_t>("w", {2, 2, 1, 1}, {1, 2, -3, 4});
  b.constant<float>("w_scale", {2}, {1.f, 0.25f});
  b.constant<int8_t>("w_zp", {2}, {0, 1});
  b.constant<float>("y_scale", {}, {2.f});
  b.constant<int8_t>("y_zp", {}, {-5});
  b.constant<int32_t>("bias", {2}, {4, -8});
  b.constant<float>("in_scale", {}, {1.f});
  b.constant<uint8_t>("in_zp", {}, {0});
  b.node("QuantizeLinear", {"x", "in_scale", "in_zp"}, {"xq"});
  b.node("QLinearConv", {"xq", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp", "bias"}, {"y"});
  b.output("y");
  std::vector<float> x = {10, 20, 255, 14, 0, 9};  // channel 0: 10 20 255, channel 1: 14 0 9
  std::vector<float> want(6);
  const float w[2][2] = {{1, 2}, {-4, 3}};  // w - w_zp
  const float m[2] = {0.5f * 1.f / 2.f, 0.5f * 0.25f / 2.f}, bias[2] = {4, -8};
  for (int o = 0; o < 2; ++o)
    for (int j = 0; j < 3; ++j) {
      float acc = w[o][0] * (x[j] - 10) + w[o][1] * (x[3 + j] - 10) + bias[o];
      want[static_cast<size_t>(o * 3 + j)] = std::clamp(std::nearbyint(acc * m[o]) - 5.f, -128.f, 127.f);
    }
  expect_equal(run(b, {{"x", {{1, 2, 1, 3}, x}}}).at(0).data, want);
}

TEST(QuantizedOps, QLinearMatMulAndMatMulIntegerPerRowAndColumn) {
  // a {2, 3} (per-row scales and zero points), b {3, 2} constant (per-column).
  std::vector<float> a = {0, 5, 255, 17, 100, 3};
  std::vector<uint8_t> bq = {1, 200, 30, 4, 255, 60};
  const float a_scale[2] = {0.1f, 0.2f}, a_zp[2] = {5, 3}, b_scale[2] = {0.5f, 0.05f}, b_zp[2] = {20, 100};
  OnnxModelBuilder b(13);
  b.input("x", {2, 3});
  b.constant<float>("one", {}, {1.f});
  b.node("QuantizeLinear", {"x", "one"}, {"aq"});
  b.constant<float>("a_scale", {2}, {a_scale[0], a_scale[1]});
  b.constant<uint8_t>("a_zp", {2}, {5, 3});
  b.constant<uint8_t>("b", {3, 2}, bq);
  b.constant<float>("b_scale", {2}, {b_scale[0], b_scale[1]});
  b.constant<uint8_t>("b_zp", {2}, {20, 100});
  b.constant<float>("y_scale", {}, {0.75f});
  b.constant<uint8_t>("y_zp", {}, {128});
  b.node("QLinearMatMul", {"aq", "a_scale", "a_zp", "b", "b_scale", "b_zp", "y_scale", "y_zp"}, {"y"});
  b.node("MatMulInteger", {"aq", "b", "a_zp", "b_zp"}, {"acc"});
  b.output("y");
  b.output("acc");
  std::vector<float> want_y(4), want_acc(4);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 2; ++c) {
      float acc = 0;
      for (int k = 0; k < 3; ++k)
        acc += (a[static_cast<size_t>(r * 3 + k)] - a_zp[r]) * (bq[static_cast<size_t>(k * 2 + c)] - b_zp[c]);
      want_acc[static_cast<size_t>(r * 2 + c)] = acc;
      float m = a_scale[r] * b_scale[c] / 0.75f;
      want_y[static_cast<size_t>(r * 2 + c)] = std::clamp(std::nearbyint(acc * m) + 128.f, 0.f, 255.f);
    }
  std::vector<OutputTensor> got = run(b, {{"x", {{2, 3}, a}}});
  expect_equal(got.at(0).data, want_y);
  expect_equal(got.at(1).data, want_acc);
}

TEST(QuantizedOps, IntegerGraphInputsAreCastToFloat) {
  // A uint8 graph input dequantized per axis, and the same input through ConvInteger.
  OnnxModelBuilder b(13);
  b.input("q", {1, 2, 1, 2}, onnx::TensorProto::UINT8);
  b.constant<float>("s", {2}, {0.5f, 2.f});
  b.constant<uint8_t>("z", {2}, {10, 20});
  b.constant<uint8_t>("xz", {}, {3});
  b.constant<uint8_t>("w", {1, 2, 1, 1}, {1, 2});
  b.node("DequantizeLinear", {"q", "s", "z"}, {"y"}).i("axis", 1);
  b.node("ConvInteger", {"q", "w", "xz"}, {"acc"});
  b.output("y");
  b.output("acc");
  ImportOptions opt;
  opt.input_dims["q"] = {1, 2, 1, 2};
  Graph g = import_onnx(b.bytes(), "test", opt);
  NativePlatform platform;
  EnclaveSession s(g, platform);
  std::vector<uint8_t> q = {0, 255, 20, 7};
  std::vector<OutputTensor> out = s.run({TensorView{DType::kU8, {1, 2, 1, 2}, q.data(), "q"}});
  expect_equal(out.at(0).data, {-5.f, 122.5f, 0.f, -26.f});
  expect_equal(out.at(1).data, {(0.f - 3) * 1 + (20.f - 3) * 2, (255.f - 3) * 1 + (7.f - 3) * 2});
}

TEST(QuantizedOps, TheFuzzSeedImportsAndRuns) {
  for (const teeinfer::testing::HostileModel& m : teeinfer::testing::seed_models()) {
    if (m.name != "seed_quantized") continue;
    ImportOptions opt;
    opt.input_dims[m.input] = m.input_dims;
    Graph g = import_onnx(m.bytes, m.name, opt);
    optimize_graph(g);
    NativePlatform platform;
    EnclaveSession s(g, platform);
    std::vector<float> x(static_cast<size_t>(element_count(m.input_dims, "x")), 0.5f);
    std::vector<OutputTensor> y = s.run({TensorView{DType::kF32, m.input_dims, x.data(), m.input}});
    EXPECT_EQ(y.at(0).dims, (Dims{1, 2, 4, 2}));
    return;
  }
  FAIL() << "no seed_quantized among the fuzz seeds";
}

void expect_refused(const OnnxModelBuilder& b, const Dims& x, const std::string& part) {
  ImportOptions opt;
  opt.input_dims["x"] = x;
  try {
    import_onnx(b.bytes(), "test", opt);
    FAIL() << "imported; expected an error containing '" << part << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(QuantizedOps, RefusesWhatItDoesNotCompute) {
  {  // the output type comes from the zero point: it must be known at import
    OnnxModelBuilder b(13);
    b.input("x", {4});
    b.input("z", {});
    b.constant<float>("s", {}, {1.f});
    b.node("QuantizeLinear", {"x", "s", "z"}, {"y"});
    b.output("y");
    expect_refused(b, {4}, "y_zero_point must be a constant");
  }
  {  // a per-axis scale computed at run time
    OnnxModelBuilder b(13);
    b.input("x", {2, 4});
    b.input("s", {4});
    b.node("DequantizeLinear", {"x", "s"}, {"y"});
    b.output("y");
    expect_refused(b, {2, 4}, "computed at run time");
  }
  {  // int32 is not a QuantizeLinear output type
    OnnxModelBuilder b(13);
    b.input("x", {4});
    b.constant<float>("s", {}, {1.f});
    b.constant<int32_t>("z", {}, {0});
    b.node("QuantizeLinear", {"x", "s", "z"}, {"y"});
    b.output("y");
    expect_refused(b, {4}, "uint8 and int8 are supported");
  }
}

}  // namespace
