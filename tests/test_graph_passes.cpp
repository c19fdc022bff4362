// Graph passes change no results: each hand-built graph runs with and without
// optimize_graph and the outputs must agree (up to float rounding of folded weights).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "enclave/enclave_session.h"
#include "host/graph_passes.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

class GraphBuilder {
 public:
  ValueId input(const std::string& name, Dims dims) {
    ValueId v = g.add_value(Value{name, DType::kF32, dims, false, {}});
    g.inputs.push_back(v);
    return v;
  }
  ValueId random_constant(const std::string& name, Dims dims, float lo = -1.f, float hi = 1.f) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> f(static_cast<size_t>(element_count(dims, name)));
    for (float& x : f) x = d(rng);
    Value v{name, DType::kF32, dims, true, std::vector<uint8_t>(f.size() * 4)};
    std::memcpy(v.data.data(), f.data(), v.data.size());
    return g.add_value(std::move(v));
  }
  ValueId node(OpKind op, const std::string& name, std::vector<ValueId> in, OpParams p, Dims out_dims) {
    ValueId out = g.add_value(Value{name + ".out", DType::kF32, out_dims, false, {}});
    g.nodes.push_back(Node{name, op_name(op), op, std::move(in), {out}, std::move(p)});
    return out;
  }
  ConvParams conv3x3(int64_t pad) {
    return ConvParams{{3, 3}, {1, 1}, {1, 1}, {pad, pad}, {pad, pad}, 1, false, {}, {}};
  }

  Graph g;
  std::mt19937 rng{42};
};

std::vector<float> run(const Graph& g, const std::vector<float>& x) {
  NativePlatform platform;
  EnclaveSession s(g, platform);
  TensorView in{DType::kF32, g.value(g.inputs[0]).dims, const_cast<float*>(x.data()), "x"};
  return s.run({in})[0].data;
}

void expect_same_results(const Graph& plain, const Graph& optimized) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  std::vector<float> x(static_cast<size_t>(element_count(plain.value(plain.inputs[0]).dims, "x")));
  for (float& v : x) v = d(rng);
  auto a = run(plain, x), b = run(optimized, x);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4f * (1 + std::fabs(a[i]))) << "element " << i;
}

TEST(GraphPasses, PadFoldsIntoConvAndAveragePool) {
  GraphBuilder b;
  ValueId x = b.input("x", {1, 4, 9, 9});
  PadParams pad{{0, 0, 1, 2}, {0, 0, 2, 1}, 0.f};
  ValueId p1 = b.node(OpKind::kPad, "pad1", {x}, pad, {1, 4, 12, 12});
  ValueId c = b.node(OpKind::kConv, "conv", {p1, b.random_constant("w", {8, 4, 3, 3})}, b.conv3x3(0), {1, 8, 10, 10});
  ValueId p2 = b.node(OpKind::kPad, "pad2", {c}, PadParams{{0, 0, 1, 1}, {0, 0, 1, 1}, 0.f}, {1, 8, 12, 12});
  PoolParams avg{PoolKind::kAverage, {3, 3}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, false, {0, 0}};
  ValueId y = b.node(OpKind::kPool, "avg", {p2}, avg, {1, 8, 5, 5});
  b.g.outputs = {y};
  Graph opt = b.g;
  PassStats s = optimize_graph(opt);
  EXPECT_EQ(s.pads_folded, 2);
  for (const Node& n : opt.nodes) EXPECT_NE(n.op, OpKind::kPad);
  expect_same_results(b.g, opt);
}

TEST(GraphPasses, PadWithValueStaysAKernel) {
  GraphBuilder b;
  ValueId x = b.input("x", {1, 2, 5, 5});
  ValueId p = b.node(OpKind::kPad, "pad", {x}, PadParams{{0, 0, 1, 1}, {0, 0, 1, 1}, 3.f}, {1, 2, 7, 7});
  ValueId y = b.node(OpKind::kConv, "conv", {p, b.random_constant("w", {2, 2, 3, 3})}, b.conv3x3(0), {1, 2, 5, 5});
  b.g.outputs = {y};
  Graph opt = b.g;
  EXPECT_EQ(optimize_graph(opt).pads_folded, 0);  // padding with 3.0 is not a conv's zero padding
  expect_same_results(b.g, opt);
}

TEST(GraphPasses, ResidualAddFusesInPlaceOrByCopy) {
  // y = relu(conv2(conv1(x)) + x); z = y + x reads x again, so the first sum cannot
  // overwrite x: it must copy. The second Add's conv-free operands stay a binary op.
  GraphBuilder b;
  ValueId x = b.input("x", {1, 8, 6, 6});
  ValueId c1 = b.node(OpKind::kConv, "conv1", {x, b.random_constant("w1", {8, 8, 3, 3})}, b.conv3x3(1), {1, 8, 6, 6});
  ValueId c2 = b.node(OpKind::kConv, "conv2", {c1, b.random_constant("w2", {8, 8, 3, 3})}, b.conv3x3(1), {1, 8, 6, 6});
  ValueId s = b.node(OpKind::kBinary, "add1", {x, c2}, BinaryParams{BinaryKind::kAdd}, {1, 8, 6, 6});
  ValueId r = b.node(OpKind::kEltwise, "relu", {s}, EltwiseParams{EltwiseKind::kRelu}, {1, 8, 6, 6});
  ValueId z = b.node(OpKind::kBinary, "add2", {r, x}, BinaryParams{BinaryKind::kAdd}, {1, 8, 6, 6});
  b.g.outputs = {z};
  Graph opt = b.g;
  PassStats st = optimize_graph(opt);
  EXPECT_EQ(st.residual_adds_fused, 1);
  EXPECT_EQ(st.activations_fused, 1);
  EXPECT_EQ(opt.nodes.size(), 3u);
  NativePlatform platform;
  EnclaveSession sess(opt, platform);
  int copies = 0;
  for (const auto& step : sess.steps()) copies += step.name.find("residual copy") != std::string::npos;
  EXPECT_EQ(copies, 1);
  expect_same_results(b.g, opt);
}

TEST(GraphPasses, BatchNormAndReluFuseIntoConcat) {
  // DenseNet's pattern: relu(bn(concat(x, conv(x)))).
  GraphBuilder b;
  ValueId x = b.input("x", {1, 3, 5, 6});
  ValueId c = b.node(OpKind::kConv, "conv", {x, b.random_constant("w", {5, 3, 3, 3})}, b.conv3x3(1), {1, 5, 5, 6});
  ValueId cat = b.node(OpKind::kConcat, "cat", {x, c}, ConcatParams{1}, {1, 8, 5, 6});
  ValueId bn = b.node(OpKind::kBatchNorm, "bn",
                      {cat, b.random_constant("gamma", {8}, 0.5f, 1.5f), b.random_constant("beta", {8}),
                       b.random_constant("mean", {8}), b.random_constant("var", {8}, 0.5f, 2.f)},
                      BatchNormParams{1e-5f}, {1, 8, 5, 6});
  ValueId y = b.node(OpKind::kEltwise, "relu", {bn}, EltwiseParams{EltwiseKind::kRelu}, {1, 8, 5, 6});
  b.g.outputs = {y};
  Graph opt = b.g;
  PassStats s = optimize_graph(opt);
  EXPECT_EQ(s.batchnorms_into_concat, 1);
  EXPECT_EQ(opt.nodes.size(), 2u);
  expect_same_results(b.g, opt);
}

TEST(GraphPasses, BatchNormFoldsIntoConv) {
  GraphBuilder b;
  ValueId x = b.input("x", {1, 3, 7, 7});
  ValueId c = b.node(OpKind::kConv, "conv", {x, b.random_constant("w", {5, 3, 3, 3}), b.random_constant("b", {5})},
                     b.conv3x3(1), {1, 5, 7, 7});
  ValueId y = b.node(OpKind::kBatchNorm, "bn",
                     {c, b.random_constant("gamma", {5}, 0.5f, 1.5f), b.random_constant("beta", {5}),
                      b.random_constant("mean", {5}), b.random_constant("var", {5}, 0.5f, 2.f)},
                     BatchNormParams{1e-5f}, {1, 5, 7, 7});
  b.g.outputs = {y};
  Graph opt = b.g;
  EXPECT_EQ(optimize_graph(opt).batchnorms_folded, 1);
  EXPECT_EQ(opt.nodes.size(), 1u);
  expect_same_results(b.g, opt);
}

}  // namespace
