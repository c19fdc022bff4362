// The op tables agree with each other (common/ops.def, common/eltwise_ops.def,
// host/onnx_ops.def): every op has a name, every ONNX op the importer converts becomes an
// IR op, every element-wise function has an ONNX name, a reference that gives the ONNX
// values below, and kernels (standalone and fused as a post-op) that match the reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <string>

#include "common/eltwise_ops.h"
#include "common/graph.h"
#include "enclave/enclave_session.h"
#include "host/onnx_ops.h"
#include "tee/none/native_platform.h"

using namespace teeinfer;

namespace {

TEST(OpTables, EveryOpHasAUniqueName) {
  std::set<std::string> names;
  for (size_t k = 0; k < kOpCount; ++k) {
    std::string name = op_name(static_cast<OpKind>(k));
    EXPECT_FALSE(name.empty() || name == "?") << "op " << k;
    EXPECT_TRUE(names.insert(name).second) << name << " twice";
  }
  EXPECT_STREQ(op_name(static_cast<OpKind>(kOpCount)), "?");
}

TEST(OpTables, EveryRuntimeOnnxOpBecomesAnOp) {
  std::set<std::string> types;
  std::vector<bool> produced(kOpCount);
  for (const RuntimeOnnxOp& op : runtime_onnx_ops()) {
    EXPECT_TRUE(types.insert(std::string(op.op_type)).second) << op.op_type << " twice";
    EXPECT_EQ(find_runtime_onnx_op(op.op_type), find_runtime_onnx_op(std::string(op.op_type)));
    EXPECT_TRUE(is_runtime_onnx_op(op.op_type));
    if (!op.ir_op) {  // an alias: its output is its input, so the pruner may pass it;
      // or If, whose branch is imported in place: the pruner stops there
      EXPECT_EQ(op.pruning_role, op.op_type == "If" ? PruningRole::kOther : PruningRole::kChannelwise) << op.op_type;
      continue;
    }
    ASSERT_LT(static_cast<size_t>(*op.ir_op), kOpCount) << op.op_type;
    produced[static_cast<size_t>(*op.ir_op)] = true;
  }
  // No IR op is out of reach of the importer.
  for (size_t k = 0; k < kOpCount; ++k) EXPECT_TRUE(produced[k]) << op_name(static_cast<OpKind>(k));
  EXPECT_FALSE(is_runtime_onnx_op("Det"));
  EXPECT_EQ(find_runtime_onnx_op("Shape"), nullptr);  // folded at import, never a node
}

TEST(OpTables, EveryEltwiseFunctionIsAnOnnxOpOfTheImporter) {
  std::set<std::string> names;
  for (size_t k = 0; k < kEltwiseCount; ++k) {
    auto kind = static_cast<EltwiseKind>(k);
    const EltwiseInfo& info = eltwise_info(kind);
    ASSERT_NE(info.onnx_op, nullptr);
    std::string name = info.onnx_op;
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(name, eltwise_name(kind));
    // A function without an importer entry of its own shares an earlier one's ONNX op type.
    EXPECT_EQ(names.insert(name).second, info.own_importer_entry) << name;
    const RuntimeOnnxOp* op = find_runtime_onnx_op(name);
    ASSERT_NE(op, nullptr) << name << " is not in the importer's table";
    EXPECT_EQ(op->ir_op, OpKind::kEltwise) << name;
    // Pow with a tensor exponent becomes a Binary node whose exponent may be per channel.
    EXPECT_EQ(op->pruning_role, name == "Pow" ? PruningRole::kOther : PruningRole::kChannelwise) << name;
  }
  EXPECT_STREQ(eltwise_name(static_cast<EltwiseKind>(kEltwiseCount)), "?");
  EXPECT_THROW(eltwise_info(static_cast<EltwiseKind>(kEltwiseCount)), Error);
}

// Values from the ONNX operator definitions, one or more per element-wise function: a
// function without any fails EveryEltwiseFunctionHasKnownValues.
struct KnownValue {
  EltwiseKind kind;
  float alpha, beta, x, y;
};
const KnownValue kKnownValues[] = {
    {EltwiseKind::kRelu, 0, 0, -2.f, 0.f},
    {EltwiseKind::kRelu, 0, 0, 3.f, 3.f},
    {EltwiseKind::kLeakyRelu, 0.1f, 0, -2.f, -0.2f},
    {EltwiseKind::kLeakyRelu, 0.1f, 0, 5.f, 5.f},
    {EltwiseKind::kClip, -1.f, 2.f, -3.f, -1.f},
    {EltwiseKind::kClip, -1.f, 2.f, 0.5f, 0.5f},
    {EltwiseKind::kClip, -1.f, 2.f, 7.f, 2.f},
    {EltwiseKind::kSigmoid, 0, 0, 0.f, 0.5f},
    {EltwiseKind::kSigmoid, 0, 0, 2.f, 0.880797f},
    {EltwiseKind::kHardSigmoid, 0.2f, 0.5f, 1.f, 0.7f},
    {EltwiseKind::kHardSigmoid, 0.2f, 0.5f, -4.f, 0.f},
    {EltwiseKind::kHardSigmoid, 0.2f, 0.5f, 4.f, 1.f},
    {EltwiseKind::kHardSwish, 0, 0, 1.f, 2.f / 3.f},
    {EltwiseKind::kHardSwish, 0, 0, -4.f, 0.f},
    {EltwiseKind::kHardSwish, 0, 0, 4.f, 4.f},
    {EltwiseKind::kNeg, 0, 0, 2.f, -2.f},
    {EltwiseKind::kNeg, 0, 0, -0.5f, 0.5f},
    {EltwiseKind::kSqrt, 0, 0, 4.f, 2.f},
    {EltwiseKind::kSqrt, 0, 0, 0.25f, 0.5f},
    {EltwiseKind::kTanh, 0, 0, 0.f, 0.f},
    {EltwiseKind::kTanh, 0, 0, 1.f, 0.761594f},
    {EltwiseKind::kExp, 0, 0, 0.f, 1.f},
    {EltwiseKind::kExp, 0, 0, 1.f, 2.718282f},
    {EltwiseKind::kLog, 0, 0, 1.f, 0.f},
    {EltwiseKind::kLog, 0, 0, 10.f, 2.302585f},
    {EltwiseKind::kErf, 0, 0, 0.f, 0.f},
    {EltwiseKind::kErf, 0, 0, 1.f, 0.842701f},
    {EltwiseKind::kErf, 0, 0, -0.5f, -0.520500f},
    {EltwiseKind::kAbs, 0, 0, -2.f, 2.f},
    {EltwiseKind::kAbs, 0, 0, 3.f, 3.f},
    {EltwiseKind::kReciprocal, 0, 0, -4.f, -0.25f},
    {EltwiseKind::kReciprocal, 0, 0, 0.5f, 2.f},
    {EltwiseKind::kSoftplus, 0, 0, 0.f, 0.693147f},
    {EltwiseKind::kSoftplus, 0, 0, -1.f, 0.313262f},
    {EltwiseKind::kSoftplus, 0, 0, 100.f, 100.f},
    {EltwiseKind::kElu, 2.f, 0, -1.f, -1.264241f},
    {EltwiseKind::kElu, 2.f, 0, 1.f, 1.f},
    {EltwiseKind::kSelu, 2.f, 3.f, -1.f, -3.792723f},
    {EltwiseKind::kSelu, 2.f, 3.f, 1.f, 3.f},
    {EltwiseKind::kFloor, 0, 0, -1.5f, -2.f},
    {EltwiseKind::kFloor, 0, 0, 1.2f, 1.f},
    {EltwiseKind::kCeil, 0, 0, -1.5f, -1.f},
    {EltwiseKind::kCeil, 0, 0, 1.2f, 2.f},
    {EltwiseKind::kRound, 0, 0, 0.5f, 0.f},  // halves to even
    {EltwiseKind::kRound, 0, 0, 1.5f, 2.f},
    {EltwiseKind::kRound, 0, 0, 2.5f, 2.f},
    {EltwiseKind::kRound, 0, 0, -2.5f, -2.f},
    {EltwiseKind::kRound, 0, 0, 2.6f, 3.f},
    {EltwiseKind::kPow, 0, 2.f, 3.f, 9.f},
    {EltwiseKind::kPow, 0, 0.5f, 4.f, 2.f},
    {EltwiseKind::kPow, 0, 3.f, -2.f, -8.f},
    {EltwiseKind::kGelu, 0, 0, 1.f, 0.8413447f},
    {EltwiseKind::kGelu, 0, 0, -3.f, -0.0040497f},
    {EltwiseKind::kGeluTanh, 0, 0, 1.f, 0.8411920f},
    {EltwiseKind::kGeluTanh, 0, 0, -1.f, -0.1588080f},
    {EltwiseKind::kSin, 0, 0, 0.f, 0.f},
    {EltwiseKind::kSin, 0, 0, 1.f, 0.841471f},
    {EltwiseKind::kCos, 0, 0, 0.f, 1.f},
    {EltwiseKind::kCos, 0, 0, 1.f, 0.540302f},
    {EltwiseKind::kSign, 0, 0, -2.f, -1.f},
    {EltwiseKind::kSign, 0, 0, 0.f, 0.f},
    {EltwiseKind::kSign, 0, 0, 0.3f, 1.f},
    {EltwiseKind::kSoftsign, 0, 0, 1.f, 0.5f},
    {EltwiseKind::kSoftsign, 0, 0, -3.f, -0.75f},
    {EltwiseKind::kThresholdedRelu, 1.f, 0, 2.f, 2.f},
    {EltwiseKind::kThresholdedRelu, 1.f, 0, 0.5f, 0.f},
    {EltwiseKind::kThresholdedRelu, 1.f, 0, 1.f, 0.f},  // not above alpha
    {EltwiseKind::kThresholdedRelu, 0.1f, 0, 0.5f, 0.5f},
    {EltwiseKind::kMish, 0, 0, 0.f, 0.f},
    {EltwiseKind::kMish, 0, 0, 1.f, 0.865098f},
    {EltwiseKind::kMish, 0, 0, -1.f, -0.303401f},
    {EltwiseKind::kSwish, 1.f, 0, 1.f, 0.7310586f},
    {EltwiseKind::kSwish, 1.f, 0, -2.f, -0.2384058f},
    {EltwiseKind::kSwish, 2.f, 0, 1.f, 0.8807971f},
};

TEST(OpTables, EltwiseReferenceGivesTheOnnxValues) {
  for (const KnownValue& v : kKnownValues)
    EXPECT_NEAR(eltwise_reference({v.kind, v.alpha, v.beta}, v.x), v.y, 1e-6f)
        << eltwise_name(v.kind) << "(" << v.x << ")";
}

TEST(OpTables, EveryEltwiseFunctionHasKnownValues) {
  std::set<EltwiseKind> covered;
  for (const KnownValue& v : kKnownValues) covered.insert(v.kind);
  for (size_t k = 0; k < kEltwiseCount; ++k)
    EXPECT_TRUE(covered.count(static_cast<EltwiseKind>(k))) << eltwise_name(static_cast<EltwiseKind>(k));
}

TEST(OpTables, EltwiseAttributeDefaultsAreOnnxs) {
  EXPECT_STREQ(eltwise_info(EltwiseKind::kLeakyRelu).alpha.onnx_name, "alpha");
  EXPECT_EQ(eltwise_info(EltwiseKind::kLeakyRelu).alpha.default_value, 0.01f);
  EXPECT_EQ(eltwise_info(EltwiseKind::kHardSigmoid).alpha.default_value, 0.2f);
  EXPECT_EQ(eltwise_info(EltwiseKind::kHardSigmoid).beta.default_value, 0.5f);
  EXPECT_EQ(eltwise_info(EltwiseKind::kRelu).alpha.onnx_name, nullptr);
  EXPECT_TRUE(std::isinf(eltwise_info(EltwiseKind::kClip).alpha.default_value));
  EXPECT_EQ(eltwise_info(EltwiseKind::kElu).alpha.default_value, 1.f);
  EXPECT_EQ(eltwise_info(EltwiseKind::kSelu).alpha.default_value, 1.67326319217681884765625f);
  EXPECT_STREQ(eltwise_info(EltwiseKind::kSelu).beta.onnx_name, "gamma");
  EXPECT_EQ(eltwise_info(EltwiseKind::kSelu).beta.default_value, 1.05070102214813232421875f);
}

TEST(OpTables, OnlyFunctionsWithoutOneDnnAlgorithmsAreHandWritten) {
  for (size_t k = 0; k < kEltwiseCount; ++k) {
    auto kind = static_cast<EltwiseKind>(k);
    bool hand_written = kind == EltwiseKind::kLog || kind == EltwiseKind::kErf || kind == EltwiseKind::kFloor ||
                        kind == EltwiseKind::kCeil || kind == EltwiseKind::kSin || kind == EltwiseKind::kCos ||
                        kind == EltwiseKind::kSign || kind == EltwiseKind::kSoftsign ||
                        kind == EltwiseKind::kThresholdedRelu;
    EXPECT_EQ(eltwise_fusible(kind), !hand_written) << eltwise_name(kind);
  }
  EXPECT_FALSE(eltwise_fusible(static_cast<EltwiseKind>(kEltwiseCount)));
}

// Runs `x` (a {1, n} row) through a graph of one node: a standalone Eltwise node, or a
// MatMul by the identity with the function fused as its post-op.
std::vector<float> run_kernel(const EltwiseParams& p, const std::vector<float>& x, bool as_post_op) {
  const int64_t n = static_cast<int64_t>(x.size());
  Graph g;
  ValueId in = g.add_value(Value{"x", DType::kF32, {1, n}, false, {}});
  g.inputs.push_back(in);
  ValueId out = g.add_value(Value{"y", DType::kF32, {1, n}, false, {}});
  g.outputs.push_back(out);
  if (as_post_op) {
    std::vector<float> eye(static_cast<size_t>(n * n), 0.f);
    for (int64_t i = 0; i < n; ++i) eye[static_cast<size_t>(i * n + i)] = 1.f;
    Value w{"eye", DType::kF32, {n, n}, true, std::vector<uint8_t>(eye.size() * 4)};
    std::memcpy(w.data.data(), eye.data(), w.data.size());
    ValueId wid = g.add_value(std::move(w));
    g.nodes.push_back(Node{"matmul", "MatMul", OpKind::kMatMul, {in, wid}, {out}, MatMulParams{{p}}});
  } else {
    g.nodes.push_back(Node{"f", eltwise_name(p.kind), OpKind::kEltwise, {in}, {out}, p});
  }
  NativePlatform platform;
  EnclaveSession s(g, platform);
  return s.run({TensorView{DType::kF32, {1, n}, const_cast<float*>(x.data()), "x"}})[0].data;
}

TEST(OpTables, EltwiseKernelsMatchTheReference) {
  const std::vector<float> x = {-7.f, -3.f, -1.5f, -0.5f, -0.f, 0.f, 0.25f, 0.5f, 1.f, 2.5f, 3.f, 6.f, 9.f};
  for (size_t k = 0; k < kEltwiseCount; ++k) {
    auto kind = static_cast<EltwiseKind>(k);
    const EltwiseInfo& info = eltwise_info(kind);
    std::vector<EltwiseParams> cases = {{kind, info.alpha.default_value, info.beta.default_value}};
    if (info.alpha.onnx_name) cases.push_back({kind, -0.75f, info.beta.onnx_name ? 1.25f : 0.f});
    if (kind == EltwiseKind::kPow)  // the exponent: whole, fractional, negative, and one oneDNN calls powf for
      for (float e : {1.f, 2.f, 3.f, 0.5f, -1.f, 1.7f}) cases.push_back({kind, 0.f, e});
    for (const EltwiseParams& p : cases) {
      for (bool post_op : {false, true}) {
        if (post_op && !eltwise_fusible(kind)) continue;  // a hand-written kernel is never a post-op
        std::vector<float> y = run_kernel(p, x, post_op);
        ASSERT_EQ(y.size(), x.size());
        for (size_t i = 0; i < x.size(); ++i) {
          // Through the MatMul by the identity, -0 comes out as +0 (-0 + 0): 1/x then differs.
          float want = eltwise_reference(p, post_op ? x[i] + 0.f : x[i]);
          std::string what = std::string(info.onnx_op) + "(" + std::to_string(x[i]) + ", alpha " +
                             std::to_string(p.alpha) + ", beta " + std::to_string(p.beta) + ")" +
                             (post_op ? " as a post-op" : "");
          if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(y[i])) << what << " = " << y[i];
          } else if (std::isinf(want)) {
            EXPECT_EQ(y[i], want) << what;
          } else {
            EXPECT_NEAR(y[i], want, 1e-5f * (1.f + std::fabs(want))) << what;
          }
        }
      }
    }
  }
}

}  // namespace
