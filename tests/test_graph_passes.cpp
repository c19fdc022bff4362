// Graph passes change no results: each hand-built graph runs with and without
// optimize_graph and the outputs must agree (up to float rounding of folded weights).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "enclave/enclave_session.h"
#include "enclave/lowering/post_ops.h"
#include "host/graph_passes.h"
#include "host/quantize_weights.h"
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

std::vector<float> run(const Graph& g, const std::vector<float>& x, const EnclaveOptions& o = {}) {
  NativePlatform platform;
  EnclaveSession s(g, platform, o);
  TensorView in{DType::kF32, g.value(g.inputs[0]).dims, const_cast<float*>(x.data()), "x"};
  return s.run({in})[0].data;
}

void expect_same_results(const Graph& plain, const Graph& optimized, const EnclaveOptions& o = {}) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  std::vector<float> x(static_cast<size_t>(element_count(plain.value(plain.inputs[0]).dims, "x")));
  for (float& v : x) v = d(rng);
  auto a = run(plain, x), b = run(optimized, x, o);
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

// ---- Fused activations that repeat a oneDNN eltwise algorithm --------------------------

const EltwiseParams kRelu{EltwiseKind::kRelu, 0.f, 0.f}, kSigmoid{EltwiseKind::kSigmoid, 0.f, 0.f};
EltwiseParams leaky(float slope) {
  return {EltwiseKind::kLeakyRelu, slope, 0.f};
}
EltwiseParams clip(float lo, float hi) {
  return {EltwiseKind::kClip, lo, hi};
}
EltwiseParams hard_sigmoid(float alpha, float beta) {
  return {EltwiseKind::kHardSigmoid, alpha, beta};
}

// What oneDNN 2.6 itself does (the reason for split_post_ops): a matmul of x = {-1, -2, 1, 2}
// by the identity with LeakyRelu(0.5) then LeakyRelu(0.2) fused applies slope 0.5 twice
// (its jit kernel has one eltwise_relu injector, made from the first); the same slope
// twice is right. If this starts failing, oneDNN computes such chains correctly and the
// split is no longer needed.
TEST(FusedActivations, OneDnnComputesARepeatedAlgorithmWithItsFirstParameters) {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  auto fused_leaky_relus = [&](float first, float second) {
    dnnl::memory::desc md({1, 4}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
    dnnl::memory::desc w_md({4, 4}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, first, 0.f);
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, second, 0.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(md, w_md, md), attr, engine);
    std::vector<float> x{-1.f, -2.f, 1.f, 2.f}, w(16, 0.f), y(4);
    for (int i = 0; i < 4; ++i) w[static_cast<size_t>(i * 5)] = 1.f;
    dnnl::memory xm(md, engine, x.data()), wm(w_md, engine, w.data()), ym(md, engine, y.data());
    dnnl::matmul(pd).execute(stream, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}});
    stream.wait();
    return std::make_pair(y, std::string(pd.impl_info_str()));
  };
  auto [same, same_impl] = fused_leaky_relus(0.5f, 0.5f);
  EXPECT_EQ(same, (std::vector<float>{-0.25f, -0.5f, 1.f, 2.f})) << same_impl;
  auto [differ, impl] = fused_leaky_relus(0.5f, 0.2f);
  if (impl.rfind("ref", 0) == 0) GTEST_SKIP() << "no jit matmul on this CPU (" << impl << ")";
  EXPECT_EQ(differ, (std::vector<float>{-0.25f, -0.5f, 1.f, 2.f}))
      << impl << ": slopes 0.5 then 0.2 (right: -0.1 -0.2 1 2)";
}

// split_post_ops fuses the longest prefix that repeats no algorithm with other parameters.
TEST(FusedActivations, SplitStopsAtTheFirstRepeatedAlgorithm) {
  auto fused = [](const PostOps& ops, const dnnl::post_ops& leading = dnnl::post_ops()) {
    return split_post_ops(ops, leading).fused.size();
  };
  EXPECT_EQ(fused({leaky(0.5f), leaky(0.2f)}), 1u);
  EXPECT_EQ(fused({leaky(0.5f), kSigmoid, kRelu}), 2u);                // slope 0.5, then 0
  EXPECT_EQ(fused({kRelu, kSigmoid, kRelu}), 3u);                      // the same parameters share one injector
  EXPECT_EQ(fused({hard_sigmoid(0.2f, 0.5f), clip(-1.f, 0.5f)}), 1u);  // clip(0, 1) then clip(-1, 0.5)
  EXPECT_EQ(fused({hard_sigmoid(0.2f, 0.5f), clip(0.f, 1.f)}), 2u);
  EXPECT_EQ(fused({clip(0.f, 6.f), hard_sigmoid(0.2f, 0.5f), leaky(0.1f)}), 1u);
  dnnl::post_ops gemm_beta;  // Gemm scaling a C it adds itself by beta
  gemm_beta.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, 0.5f, 0.f);
  EXPECT_EQ(fused({kRelu, hard_sigmoid(0.2f, 0.5f)}, gemm_beta), 1u);
  EXPECT_EQ(repeated_eltwise_algorithm(gemm_beta), "");
  gemm_beta.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, 0.2f, 0.5f);
  EXPECT_EQ(repeated_eltwise_algorithm(gemm_beta), "eltwise_linear (alpha 0.5, beta 0 then alpha 0.2, beta 0.5)");
}

// The graph passes fuse no activation that would repeat an algorithm of the chain with
// other parameters (it stays an Eltwise node), and fuse the rest as before.
TEST(GraphPasses, ActivationsRepeatingAOneDnnAlgorithmStayUnfused) {
  {  // Conv -> LeakyRelu(0.5) -> LeakyRelu(0.2): the second stays
    GraphBuilder b;
    ValueId x = b.input("x", {1, 3, 6, 6});
    ValueId c = b.node(OpKind::kConv, "conv", {x, b.random_constant("w", {4, 3, 3, 3})}, b.conv3x3(1), {1, 4, 6, 6});
    ValueId a = b.node(OpKind::kEltwise, "leaky1", {c}, leaky(0.5f), {1, 4, 6, 6});
    ValueId y = b.node(OpKind::kEltwise, "leaky2", {a}, leaky(0.2f), {1, 4, 6, 6});
    b.g.outputs = {y};
    Graph opt = b.g;
    EXPECT_EQ(optimize_graph(opt).activations_fused, 1);
    ASSERT_EQ(opt.nodes.size(), 2u);
    EXPECT_EQ(std::get<ConvParams>(opt.nodes[0].params).post_ops.size(), 1u);
    expect_same_results(b.g, opt);
  }
  {  // MatMul -> HardSigmoid -> Clip(-0.26, 0.42): HardSigmoid's clip(0, 1) comes first
    GraphBuilder b;
    ValueId x = b.input("x", {3, 5});
    ValueId m = b.node(OpKind::kMatMul, "matmul", {x, b.random_constant("w", {5, 7})}, MatMulParams{}, {3, 7});
    ValueId h = b.node(OpKind::kEltwise, "hsig", {m}, hard_sigmoid(0.4f, 0.3f), {3, 7});
    ValueId y = b.node(OpKind::kEltwise, "clip", {h}, clip(-0.26f, 0.42f), {3, 7});
    b.g.outputs = {y};
    Graph opt = b.g;
    EXPECT_EQ(optimize_graph(opt).activations_fused, 1);
    EXPECT_EQ(opt.nodes.size(), 2u);
    expect_same_results(b.g, opt);
  }
  for (bool constant_c : {false, true}) {
    // Gemm (beta 0.5) -> HardSigmoid: a C the Gemm adds itself is scaled by eltwise_linear,
    // as is HardSigmoid's input; a constant C becomes the bias (prescaled), so it fuses.
    GraphBuilder b;
    ValueId x = b.input("x", {4, 8});
    ValueId c = constant_c ? b.random_constant("c", {4, 6})
                           : b.node(OpKind::kMatMul, "c", {x, b.random_constant("wc", {8, 6})}, MatMulParams{}, {4, 6});
    GemmParams p;
    p.beta = 0.5f;
    p.trans_b = true;
    ValueId g = b.node(OpKind::kGemm, "gemm", {x, b.random_constant("w", {6, 8}), c}, p, {4, 6});
    ValueId y = b.node(OpKind::kEltwise, "hsig", {g}, hard_sigmoid(0.3f, 0.6f), {4, 6});
    b.g.outputs = {y};
    Graph opt = b.g;
    EXPECT_EQ(optimize_graph(opt).activations_fused, constant_c ? 1 : 0) << (constant_c ? "constant C" : "computed C");
    expect_same_results(b.g, opt);
  }
}

// The same chains in a graph as they come (a hand-built or sealed graph holds any chain):
// the kernels fuse what oneDNN computes right and run the rest as eltwise steps, on every
// path: Conv whole, in bands, depthwise, with a residual, im2col (unmodified); Gemm adding
// its own C; MatMul. Compared with the chain as separate Eltwise nodes.
TEST(FusedActivations, ChainsRepeatingAnAlgorithmComputeCorrectly) {
  // The chain as Eltwise nodes after the node it was fused into.
  auto unfused = [](const Graph& g) {
    Graph out = g;
    out.nodes.clear();
    for (Node n : g.nodes) {
      PostOps chain;
      if (auto* c = std::get_if<ConvParams>(&n.params)) std::swap(chain, c->post_ops);
      if (auto* m = std::get_if<GemmParams>(&n.params)) std::swap(chain, m->post_ops);
      if (auto* m = std::get_if<MatMulParams>(&n.params)) std::swap(chain, m->post_ops);
      ValueId y = n.outputs[0];
      for (size_t i = 0; i < chain.size(); ++i) {
        Value v = out.value(y);
        v.name += ".before" + std::to_string(i);
        n.outputs[0] = out.add_value(std::move(v));
        out.nodes.push_back(n);
        n = Node{n.name + ".act" + std::to_string(i), "Eltwise", OpKind::kEltwise, {n.outputs[0]}, {y}, chain[i]};
      }
      out.nodes.push_back(n);
    }
    return out;
  };
  auto expect_split = [&](const Graph& g, const EnclaveOptions& o, const std::string& what) {
    SCOPED_TRACE(what);
    expect_same_results(unfused(g), g, o);
    NativePlatform platform;
    EnclaveSession s(g, platform, o);
    int separate = 0;
    for (const StepInfo& i : s.steps()) separate += i.name.find(" then ") != std::string::npos;
    EXPECT_GT(separate, 0) << "no activation ran as a step of its own";
  };
  const PostOps chains[] = {{leaky(0.5f), leaky(0.2f)},
                            {hard_sigmoid(0.3f, 0.5f), clip(-0.26f, 0.42f)},
                            {hard_sigmoid(0.2f, 0.4f), kSigmoid, hard_sigmoid(0.5f, 0.5f)}};
  for (const PostOps& chain : chains) {
    {
      GraphBuilder b;
      ValueId x = b.input("x", {1, 4, 7, 6});
      ConvParams p = b.conv3x3(1);
      p.post_ops = chain;
      ValueId y = b.node(OpKind::kConv, "conv",
                         {x, b.random_constant("w", {16, 4, 3, 3}), b.random_constant("b", {16})}, p, {1, 16, 7, 6});
      b.g.outputs = {y};
      expect_split(b.g, {}, "conv");
      expect_split(b.g, {.conv_band_rows = {{0, 2}}}, "conv in bands");
      expect_split(b.g, {.mode = ExecutionMode::kUnmodified}, "conv as im2col");
      std::get<ConvParams>(b.g.nodes[0].params).groups = 4;  // depthwise, a channel multiplier of 4
      b.g.value(b.g.nodes[0].inputs[1]).dims = {16, 1, 3, 3};
      b.g.value(b.g.nodes[0].inputs[1]).data.resize(16 * 9 * 4);
      expect_split(b.g, {}, "depthwise conv");
    }
    {  // a fused residual, and pads wider than the window (the sum is a binary step)
      GraphBuilder b;
      ValueId x = b.input("x", {1, 4, 5, 5});
      ConvParams p{{1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, true, chain, {}};
      ValueId r = b.node(OpKind::kPad, "pad", {x}, PadParams{{0, 0, 1, 1}, {0, 0, 1, 1}, 0.5f}, {1, 4, 7, 7});
      ValueId y =
          b.node(OpKind::kConv, "conv", {x, b.random_constant("w", {4, 4, 1, 1}), kNoValue, r}, p, {1, 4, 7, 7});
      b.g.outputs = {y};
      expect_split(b.g, {}, "conv with a residual");
    }
    {  // Gemm adding a computed C scaled by beta (eltwise_linear), then the chain
      GraphBuilder b;
      ValueId x = b.input("x", {4, 8});
      ValueId c = b.node(OpKind::kMatMul, "c", {x, b.random_constant("wc", {8, 6})}, MatMulParams{}, {4, 6});
      GemmParams p;
      p.alpha = 1.5f;
      p.beta = 0.5f;
      p.trans_b = true;
      p.post_ops = chain;
      ValueId y = b.node(OpKind::kGemm, "gemm", {x, b.random_constant("w", {6, 8}), c}, p, {4, 6});
      b.g.outputs = {y};
      expect_split(b.g, {}, "gemm");
    }
    {
      GraphBuilder b;
      ValueId x = b.input("x", {2, 3, 5});
      ValueId y =
          b.node(OpKind::kMatMul, "matmul", {x, b.random_constant("w", {5, 7})}, MatMulParams{chain}, {2, 3, 7});
      b.g.outputs = {y};
      expect_split(b.g, {}, "matmul");
    }
  }
}

}  // namespace

// ---- activation patterns (host/activation_patterns.h) -----------------------------------

namespace {

ValueId scalar(GraphBuilder& b, const std::string& name, float v, Dims dims = {}) {
  std::vector<float> f(static_cast<size_t>(element_count(dims, name)), v);
  Value c{name, DType::kF32, dims, true, std::vector<uint8_t>(f.size() * 4)};
  std::memcpy(c.data.data(), f.data(), c.data.size());
  return b.g.add_value(std::move(c));
}

// conv -> one spelling of hard-swish -> graph output. `form`: 0 x*Clip(x+3,0,6)/6,
// 1 Clip(3+x,0,6)*x*(1/6) (constant first, product reversed, multiply by a sixth),
// 2 x*(Clip(x+3,0,6)/6), 3 HardSigmoid(x,1/6,1/2)*x.
Graph hard_swish_graph(int form, float three = 3.f) {
  GraphBuilder b;
  Dims d{1, 4, 6, 6};
  ValueId in = b.input("in", d);
  ValueId x = b.node(OpKind::kConv, "conv", {in, b.random_constant("w", {4, 4, 3, 3})}, b.conv3x3(1), d);
  auto bin = [&](const char* name, BinaryKind k, ValueId l, ValueId r) {
    return b.node(OpKind::kBinary, name, {l, r}, BinaryParams{k}, d);
  };
  auto relu6 = [&](ValueId a) {
    return b.node(OpKind::kEltwise, "clip", {a}, EltwiseParams{EltwiseKind::kClip, 0.f, 6.f}, d);
  };
  ValueId y = kNoValue;
  switch (form) {
    case 0:
      y = bin("div", BinaryKind::kDiv,
              bin("mul", BinaryKind::kMul, x, relu6(bin("add", BinaryKind::kAdd, x, scalar(b, "three", three)))),
              scalar(b, "six", 6.f));
      break;
    case 1:
      y = bin("mul6", BinaryKind::kMul, scalar(b, "sixth", 1.f / 6, {1, 1, 1}),
              bin("mul", BinaryKind::kMul, relu6(bin("add", BinaryKind::kAdd, scalar(b, "three", three, {1}), x)), x));
      break;
    case 2:
      y = bin("mul", BinaryKind::kMul, x,
              bin("div", BinaryKind::kDiv, relu6(bin("add", BinaryKind::kAdd, x, scalar(b, "three", three))),
                  scalar(b, "six", 6.f)));
      break;
    default:
      y = bin("mul", BinaryKind::kMul,
              b.node(OpKind::kEltwise, "hsig", {x}, EltwiseParams{EltwiseKind::kHardSigmoid, 1.f / 6, 0.5f}, d), x);
  }
  b.g.outputs = {y};
  return b.g;
}

}  // namespace

TEST(ActivationPatterns, HardSwishSpelledOutBecomesOneFusedActivation) {
  for (int form = 0; form < 4; ++form) {
    SCOPED_TRACE("form " + std::to_string(form));
    Graph plain = hard_swish_graph(form);
    Graph opt = plain;
    PassStats s = optimize_graph(opt);
    EXPECT_EQ(s.activation_patterns_fused, 1);
    ASSERT_EQ(opt.nodes.size(), 1u) << "conv with the hard-swish as its post-op";
    const auto& post = std::get<ConvParams>(opt.nodes[0].params).post_ops;
    ASSERT_EQ(post.size(), 1u);
    EXPECT_EQ(post[0].kind, EltwiseKind::kHardSwish);
    EXPECT_NE(describe(s).find("1 hard-swish patterns"), std::string::npos) << describe(s);
    expect_same_results(plain, opt);
  }
}

TEST(ActivationPatterns, NearMissesAndSharedIntermediatesAreLeftAlone) {
  // Another shift than 3 is not hard-swish.
  Graph other = hard_swish_graph(0, 2.f);
  Graph opt = other;
  EXPECT_EQ(optimize_graph(opt).activation_patterns_fused, 0);
  expect_same_results(other, opt);
  // The clipped value also leaves the graph: the pattern's ops must stay.
  Graph shared = hard_swish_graph(0);
  for (const Node& n : shared.nodes)
    if (n.name == "clip") shared.outputs.push_back(n.outputs[0]);
  opt = shared;
  EXPECT_EQ(optimize_graph(opt).activation_patterns_fused, 0);
}

// A dilated window can straddle a small input although the pads are smaller than its
// extent: output row 0 of this conv reads input rows -1 and 1 of a one-row input, only
// padding. oneDNN 2.6.3's brgconv crashed taking the residual as a sum post-op there (the
// op harness's slow sweep found it with int8 weight-only weights); the residual is now
// added by its own binary step, as for pads wider than the window.
TEST(GraphPasses, AResidualWhereADilatedWindowSeesOnlyPaddingIsAddedSeparately) {
  for (bool int8 : {false, true}) {
    SCOPED_TRACE(int8 ? "int8 weight-only" : "float32");
    GraphBuilder b;
    ValueId x = b.input("x", {2, 1, 1, 2});
    ConvParams cp{{2, 3}, {2, 2}, {2, 1}, {1, 0}, {2, 1}, 1, false, {}, {}};
    ValueId c = b.node(OpKind::kConv, "conv", {x, b.random_constant("w", {7, 1, 2, 3})}, cp, {2, 7, 1, 1});
    ConvParams one_by_two{{1, 2}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1, false, {}, {}};
    ValueId r = b.node(OpKind::kConv, "conv_r", {x, b.random_constant("wr", {7, 1, 1, 2})}, one_by_two, {2, 7, 1, 1});
    ValueId s = b.node(OpKind::kBinary, "add", {r, c}, BinaryParams{BinaryKind::kAdd}, {2, 7, 1, 1});
    ValueId y =
        b.node(OpKind::kEltwise, "hsig", {s}, EltwiseParams{EltwiseKind::kHardSigmoid, 0.12f, 0.62f}, {2, 7, 1, 1});
    b.g.outputs = {y, r};  // (r is read twice: only the dilated conv can take the sum)
    if (int8) quantize_weights(b.g, QuantizeTarget::kAll);
    Graph opt = b.g;
    EXPECT_EQ(optimize_graph(opt).residual_adds_fused, 1);
    bool dilated_takes_the_sum = false;
    for (const Node& n : opt.nodes)
      if (n.name == "conv") dilated_takes_the_sum = std::get<ConvParams>(n.params).fused_sum;
    EXPECT_TRUE(dilated_takes_the_sum);
    expect_same_results(b.g, opt);
  }
}
