// Graph validation: a node whose op and params disagree, or whose op is not an OpKind, is
// Error(kBadModel) naming the node wherever a graph enters (validate_graph first, then
// every reader of params), never std::bad_variant_access; the sealed manifest's decoder
// rejects every wrong op byte the same way; and the manifest's bytes for every op are the
// ones docs/format.md specifies.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <typeinfo>
#include <utility>

#include "common/aes_gcm.h"
#include "common/error.h"
#include "common/sealed_format.h"
#include "common/shape_inference.h"
#include "enclave/enclave_session.h"
#include "host/graph_passes.h"
#include "host/packer.h"
#include "host/pruning/layer_costs.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

// OpParams holding a default-constructed struct of op `index`.
template <size_t... I>
OpParams params_by_index(size_t index, std::index_sequence<I...>) {
  OpParams p;
  ((index == I ? (p.emplace<I>(), 0) : 0), ...);
  return p;
}
OpParams params_of_op(size_t index) {
  return params_by_index(index, std::make_index_sequence<kOpCount>{});
}

class GraphBuilder {
 public:
  ValueId input(const std::string& name, Dims dims) {
    ValueId v = g.add_value(Value{name, DType::kF32, dims, false, {}});
    g.inputs.push_back(v);
    return v;
  }
  ValueId constant(const std::string& name, Dims dims) {
    std::uniform_real_distribution<float> d(0.5f, 1.f);  // positive: valid BatchNorm variances too
    std::vector<float> f(static_cast<size_t>(element_count(dims, name)));
    for (float& x : f) x = d(rng);
    Value v{name, DType::kF32, dims, true, std::vector<uint8_t>(f.size() * 4)};
    std::memcpy(v.data.data(), f.data(), v.data.size());
    return g.add_value(std::move(v));
  }
  ValueId node(const std::string& name, std::vector<ValueId> in, OpParams p, Dims out_dims) {
    ValueId out = g.add_value(Value{name + ".out", DType::kF32, out_dims, false, {}});
    OpKind op = op_of(p);
    g.nodes.push_back(Node{name, op_name(op), op, std::move(in), {out}, std::move(p)});
    return out;
  }

  Graph g;
  std::mt19937 rng{7};
};

// One node of each of the 13 ops of sealed format version 2 (common/ops.def's order differs
// from the data flow's). Frozen: ManifestBytesOfFormatVersion2AreUnchanged pins its bytes.
GraphBuilder format_v2_graph() {
  GraphBuilder b;
  ValueId x = b.input("x", {1, 2, 4, 4});
  ValueId pad = b.node("pad", {x}, PadParams{{0, 0, 1, 1}, {0, 0, 1, 1}, 0.5f}, {1, 2, 6, 6});
  ConvParams cp{{3, 3}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1, false, {{EltwiseKind::kRelu}}, {}};
  ValueId conv = b.node("conv", {pad, b.constant("w", {3, 2, 3, 3}), b.constant("b", {3})}, cp, {1, 3, 4, 4});
  ValueId bn = b.node(
      "bn", {conv, b.constant("scale", {3}), b.constant("shift", {3}), b.constant("mean", {3}), b.constant("var", {3})},
      BatchNormParams{1e-5f, false}, {1, 3, 4, 4});
  ValueId act = b.node("leaky", {bn}, EltwiseParams{EltwiseKind::kLeakyRelu, 0.1f}, {1, 3, 4, 4});
  ValueId lrn = b.node("lrn", {act}, LrnParams{1e-4f, 0.75f, 1.f, 3}, {1, 3, 4, 4});
  PoolParams pp{PoolKind::kMax, {2, 2}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, false, {0, 0}};
  ValueId pool = b.node("pool", {lrn}, pp, {1, 3, 2, 2});
  ValueId cat = b.node("cat", {pool, pool}, ConcatParams{1}, {1, 6, 2, 2});
  ValueId add = b.node("add", {cat, cat}, BinaryParams{BinaryKind::kAdd}, {1, 6, 2, 2});
  ValueId tr = b.node("transpose", {add}, TransposeParams{{0, 2, 3, 1}}, {1, 2, 2, 6});
  ValueId flat = b.node("flatten", {tr}, ReshapeParams{}, {1, 24});
  ValueId gemm =
      b.node("gemm", {flat, b.constant("B", {5, 24})}, GemmParams{0.5f, 1.f, false, true, false, {}, {}}, {1, 5});
  ValueId mm =
      b.node("matmul", {gemm, b.constant("M", {5, 4})}, MatMulParams{{{EltwiseKind::kClip, -1.f, 1.f}}}, {1, 4});
  ValueId y = b.node("softmax", {mm}, SoftmaxParams{1, false}, {1, 4});
  b.g.outputs.push_back(y);
  return b;
}

// One node of every op: format_v2_graph() and a node of each op added since, reading a
// value of it and adding a graph output (EveryOpGraphIsValidAndRuns checks it is complete).
Graph every_op_graph() {
  GraphBuilder b = format_v2_graph();
  const ValueId mm = b.g.nodes[b.g.nodes.size() - 2].outputs[0];  // the MatMul's output, {1, 4}
  b.g.outputs.push_back(b.node("cast", {mm}, CastParams{}, {1, 4}));
  const ValueId x = b.g.inputs[0];  // {1, 2, 4, 4}
  b.g.outputs.push_back(b.node("slice", {x}, SliceParams{{0, 1, 1, 3}, {1, 1, 2, -1}, {1, 1, 2, 4}}, {1, 1, 2, 4}));
  b.g.outputs.push_back(b.node("gather", {x}, GatherParams{3, {2}, {3, 0}}, {1, 2, 4, 2}));
  b.g.outputs.push_back(b.node("tile", {x}, TileParams{{2, 1, 1, 1, 2}}, {2, 1, 2, 4, 8}));
  ResizeParams rp;
  rp.mode = ResizeMode::kLinear;
  rp.scales = {1, 1, 2, 2};
  rp.sizes = {1, 2, 8, 8};
  b.g.outputs.push_back(b.node("resize", {x}, rp, {1, 2, 8, 8}));
  ConvTransposeParams ct{{3, 3}, {2, 2}, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 1};
  b.g.outputs.push_back(b.node("deconv", {x, b.constant("wt", {2, 3, 3, 3})}, ct, {1, 3, 9, 9}));
  b.g.outputs.push_back(
      b.node("where", {b.constant("cond", {4}), x, b.constant("other", {1, 4})}, WhereParams{}, {1, 2, 4, 4}));
  b.g.outputs.push_back(b.node("d2s", {x}, DepthToSpaceParams{1, true, false}, {1, 2, 4, 4}));
  b.g.outputs.push_back(b.node("s2d", {x}, DepthToSpaceParams{2, false, true}, {1, 8, 2, 2}));
  b.g.outputs.push_back(
      b.node("pad_reflect", {x}, PadParams{{0, 0, 2, 1}, {0, 0, 1, 3}, 0.f, PadMode::kReflect}, {1, 2, 7, 8}));
  b.g.outputs.push_back(b.node("reduce", {mm}, ReduceParams{ReduceKind::kMean, {1}, false}, {1}));
  b.g.outputs.push_back(b.node("prelu", {mm, b.constant("slope", {4})}, PReluParams{}, {1, 4}));
  const ValueId seq = b.node("sequence", {x}, ReshapeParams{}, {2, 4, 4});  // T 2, N 4, I 4
  b.g.outputs.push_back(
      b.node("lstm",
             {seq, b.constant("lstm_w", {12, 4}), b.constant("lstm_r", {12, 3}), b.constant("lstm_b", {12}),
              b.constant("lstm_h", {1, 4, 3}), b.constant("lstm_c", {1, 4, 3}), b.constant("lstm_p", {9})},
             RecurrentParams{RecurrentCell::kLstm, RnnActivation::kTanh, 3, false, false}, {48}));
  b.g.outputs.push_back(b.node("layer_norm", {x, b.constant("ln_scale", {4, 4}), b.constant("ln_bias", {16})},
                               LayerNormParams{1e-5f, 2}, {1, 2, 4, 4}));
  const ValueId arg = b.node("argmax", {mm}, ArgMaxMinParams{ArgKind::kMax, 1, false, false}, {1});
  b.g.value(arg).dtype = DType::kI64;  // (the builder makes float32 values)
  b.g.outputs.push_back(arg);
  b.g.outputs.push_back(b.node("log_softmax", {mm}, LogSoftmaxParams{{1, false}}, {1, 4}));
  return b.g;
}

void expect_bad_model(const std::function<void()>& f, const std::string& node, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << what << ": no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadModel) << what << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find("'" + node + "'"), std::string::npos) << what << ": " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": " << typeid(e).name() << ": " << e.what();
  }
}

TEST(Graph, EveryOpGraphIsValidAndRuns) {
  Graph g = every_op_graph();
  std::vector<bool> seen(kOpCount);
  for (const Node& n : g.nodes) seen[static_cast<size_t>(n.op)] = true;
  for (size_t k = 0; k < kOpCount; ++k) EXPECT_TRUE(seen[k]) << op_name(static_cast<OpKind>(k)) << " is missing";
  EXPECT_NO_THROW(validate_graph(g));
  NativePlatform platform;
  EnclaveSession s(g, platform);
  std::vector<float> x(32, 0.25f);
  auto y = s.run({TensorView{DType::kF32, {1, 2, 4, 4}, x.data(), "x"}});
  ASSERT_EQ(y.size(), g.outputs.size());
  ASSERT_EQ(y[0].data.size(), 4u);
  float sum = 0;
  for (float v : y[0].data) sum += v;
  EXPECT_NEAR(sum, 1.f, 1e-5f);  // a softmax
}

TEST(Graph, ParamsOfAnotherOpAreABadModelNamingTheNode) {
  for (size_t node = 0; node < every_op_graph().nodes.size(); ++node) {
    for (size_t other = 0; other < kOpCount; ++other) {
      Graph g = every_op_graph();
      Node& n = g.nodes[node];
      if (static_cast<size_t>(n.op) == other) continue;
      n.params = params_of_op(other);
      std::string what = n.name + " with " + op_name(static_cast<OpKind>(other)) + " params";
      expect_bad_model([&] { validate_graph(g); }, n.name, what + ", validate_graph");
      expect_bad_model([&] { infer_output_dims(g, n); }, n.name, what + ", infer_output_dims");
      expect_bad_model(
          [&] {
            encode_manifest(Manifest{{ShapeProfile{g, std::vector<uint32_t>(g.values.size(), kNoTensor)}}, {}, {}});
          },
          n.name, what + ", encode_manifest");
    }
  }
}

// Only Cast (and Reshape, of int64) reads an integer runtime tensor, and outputs are
// float32 or int64 computed by a node (ArgMaxMin): a graph breaking either is a bad model,
// not garbage bytes.
TEST(Graph, IntegerTensorsOnlyFeedCasts) {
  GraphBuilder b;
  ValueId ids = b.g.add_value(Value{"ids", DType::kI64, {1, 4}, false, {}});
  b.g.inputs.push_back(ids);
  Graph passthrough = b.g;
  passthrough.outputs.push_back(ids);
  expect_bad_model([&] { validate_graph(passthrough); }, "ids", "an int64 graph output");
  Graph relu = b.g;
  ValueId y = relu.add_value(Value{"y", DType::kF32, {1, 4}, false, {}});
  relu.nodes.push_back(Node{"relu", "Relu", OpKind::kEltwise, {ids}, {y}, EltwiseParams{EltwiseKind::kRelu}});
  relu.outputs.push_back(y);
  expect_bad_model([&] { validate_graph(relu); }, "relu", "an Eltwise reading int64");
  Graph cast = b.g;
  ValueId f = cast.add_value(Value{"f", DType::kF32, {1, 4}, false, {}});
  cast.nodes.push_back(Node{"cast", "Cast", OpKind::kCast, {ids}, {f}, CastParams{}});
  cast.outputs.push_back(f);
  EXPECT_NO_THROW(validate_graph(cast));
  NativePlatform platform;
  EnclaveSession s(cast, platform);
  std::vector<int64_t> v{-3, 0, 7, int64_t{1} << 40};
  auto out = s.run({TensorView{DType::kI64, {1, 4}, v.data(), "ids"}});
  EXPECT_EQ(out[0].data, (std::vector<float>{-3.f, 0.f, 7.f, 1099511627776.f}));
  EXPECT_THROW(s.run({TensorView{DType::kF32, {1, 4}, v.data(), "ids"}}), Error);  // the wrong dtype
}

// ArgMaxMin writes int64 (as ONNX types its output), which reaches the caller as int64
// bytes, also through a Reshape (a view); a graph declaring its output float32 is a bad model.
TEST(Graph, ArgMaxWritesInt64Indices) {
  GraphBuilder b;
  ValueId x = b.input("x", {2, 3});
  ValueId arg = b.node("argmin", {x}, ArgMaxMinParams{ArgKind::kMin, 1, true, true}, {2, 1});
  Graph as_float = b.g;
  as_float.outputs.push_back(arg);
  expect_bad_model([&] { validate_graph(as_float); }, "argmin", "ArgMaxMin writing float32");
  b.g.value(arg).dtype = DType::kI64;
  ValueId flat = b.node("flat", {arg}, ReshapeParams{}, {2});
  b.g.value(flat).dtype = DType::kI64;
  b.g.outputs.push_back(flat);
  ASSERT_NO_THROW(validate_graph(b.g));
  NativePlatform platform;
  EnclaveSession s(b.g, platform);
  std::vector<float> v{3.f, -1.f, -1.f, NAN, 2.f, NAN};  // ties: the last; a NaN wins, the last NaN
  auto out = s.run({TensorView{DType::kF32, {2, 3}, v.data(), "x"}});
  ASSERT_EQ(out[0].dtype, DType::kI64);
  std::vector<int64_t> got(2);
  ASSERT_EQ(out[0].bytes.size(), sizeof(int64_t) * got.size());
  std::memcpy(got.data(), out[0].bytes.data(), out[0].bytes.size());
  EXPECT_EQ(got, (std::vector<int64_t>{2, 2}));
}

TEST(Graph, AnOpOutsideOpKindIsABadModelNamingTheNode) {
  for (int op : {static_cast<int>(kOpCount), 200, 255}) {
    Graph g = every_op_graph();
    g.nodes[3].op = static_cast<OpKind>(op);
    const std::string name = g.nodes[3].name;
    expect_bad_model([&] { validate_graph(g); }, name, "op " + std::to_string(op));
    expect_bad_model([&] { infer_output_dims(g, g.nodes[3]); }, name, "op " + std::to_string(op));
    EXPECT_STREQ(op_name(static_cast<OpKind>(op)), "?");
  }
}

TEST(Graph, EveryEntryPointRejectsAMismatchedNode) {
  Graph g = every_op_graph();
  g.nodes[1].params = EltwiseParams{};  // the Conv
  const std::string name = g.nodes[1].name;
  NativePlatform platform;
  expect_bad_model([&] { EnclaveSession s(g, platform); }, name, "EnclaveSession");
  expect_bad_model([&] { pack_model(g, AesKey{}, "/nonexistent/never-written.tee", {}); }, name, "pack_model");
  expect_bad_model(
      [&] {
        Graph copy = g;
        optimize_graph(copy);
      },
      name, "optimize_graph");
  expect_bad_model([&] { layer_costs(g); }, name, "layer_costs");
}

TEST(Graph, HandWrittenFunctionsAreNeverPostOps) {
  Graph g = every_op_graph();
  auto& conv = std::get<ConvParams>(g.nodes[1].params);
  ASSERT_NO_THROW(validate_graph(g));
  conv.post_ops.push_back({EltwiseKind::kErf});  // no oneDNN algorithm: only a node of its own
  expect_bad_model([&] { validate_graph(g); }, g.nodes[1].name, "an Erf post-op");
  NativePlatform platform;
  expect_bad_model([&] { EnclaveSession s(g, platform); }, g.nodes[1].name, "EnclaveSession");
}

// Where a node's op byte is in an encoded manifest: just before its name (u32 length, bytes).
size_t op_byte_offset(const std::vector<uint8_t>& bytes, const std::string& name) {
  std::vector<uint8_t> pattern(4 + name.size());
  uint32_t len = static_cast<uint32_t>(name.size());
  std::memcpy(pattern.data(), &len, 4);
  std::memcpy(pattern.data() + 4, name.data(), name.size());
  auto it = std::search(bytes.begin(), bytes.end(), pattern.begin(), pattern.end());
  EXPECT_NE(it, bytes.end()) << name;
  return static_cast<size_t>(it - bytes.begin()) - 1;
}

// Another op byte makes the decoder read that op's parameters from the bytes that follow:
// it must end in Error(kBadModel), or (where the bytes happen to fit, as Softmax's 9 bytes
// read as an Eltwise's) in a graph that validates, never in another exception. (In a
// sealed file the manifest is authenticated: a changed byte is kTampered, test_sealed.)
TEST(Graph, ManifestDecoderRejectsWrongOpBytesCleanly) {
  Manifest m = plan_manifest(every_op_graph(), 64);
  uint32_t chunks = 0;
  for (const SealedTensor& t : m.tensors) chunks += t.chunk_count;
  const std::vector<uint8_t> good = encode_manifest(m);
  ASSERT_NO_THROW(decode_manifest(good.data(), good.size(), chunks));
  int rejected = 0, accepted = 0;
  for (const Node& n : m.profiles[0].graph.nodes) {
    size_t at = op_byte_offset(good, n.name);
    ASSERT_EQ(good[at], static_cast<uint8_t>(n.op));
    for (int op = 0; op < 256; ++op) {
      if (op == good[at]) continue;
      std::vector<uint8_t> bad = good;
      bad[at] = static_cast<uint8_t>(op);
      const std::string what = n.name + " as op " + std::to_string(op);
      try {
        Manifest decoded = decode_manifest(bad.data(), bad.size(), chunks);
        EXPECT_LT(op, static_cast<int>(kOpCount)) << what << ": accepted";
        for (const Node& d : decoded.profiles[0].graph.nodes) EXPECT_NO_THROW(check_op_params(d)) << what;
        ++accepted;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kBadModel) << what << ": " << e.what();
        ++rejected;
      } catch (const std::exception& e) {
        ADD_FAILURE() << what << ": " << typeid(e).name() << ": " << e.what();
      }
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_LT(accepted, rejected / 50);  // the rare coincidences
}

std::string sha256_hex(const uint8_t* p, size_t n) {
  auto digest = sha256(p, n);
  std::string hex;
  for (uint8_t b : digest) {
    const char* digits = "0123456789abcdef";
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  return hex;
}

TEST(Graph, ManifestGraphBytesAreThoseOfFormatVersion2) {
  // Format version 3 holds shape profiles: u32 profile count, then each profile's graph
  // in version 2's bytes, then its constants' tensor indices. The graph bytes are pinned
  // by the SHA-256 the version-2 encoder gave this graph's manifest (graph ‖ u32 0 tensors)
  // before the op tables existed (commit 8869403): op numbers and parameters unchanged.
  Manifest m;
  Graph g = format_v2_graph().g;
  m.profiles.push_back({g, std::vector<uint32_t>(g.values.size(), kNoTensor)});
  uint32_t constants = 0;
  for (size_t v = 0; v < g.values.size(); ++v)
    if (g.values[v].is_constant) m.profiles[0].tensor_of_value[v] = constants++;
  std::vector<uint8_t> bytes = encode_manifest(m);
  // count, graph, the constants' tensor indices, an empty tensor table
  ASSERT_EQ(bytes.size(), 4u + 1712u + 4u + 4u * constants + 4u);
  EXPECT_EQ(bytes[0], 1);
  std::vector<uint8_t> v2(bytes.begin() + 4, bytes.begin() + 4 + 1712);
  v2.insert(v2.end(), 4, 0);
  EXPECT_EQ(sha256_hex(v2.data(), v2.size()), "c47e6ccd4d06b8a49dfb55fb2bb54ff32d358b9f28807046d1fec1b25a7e5a2b");
}

}  // namespace
