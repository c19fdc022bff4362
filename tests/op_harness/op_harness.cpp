// The per-op harness (docs/op-harness.md): every op kind, through every lowering strategy
// that applies to it, on seeded random parameters, against a scalar reference; a case
// that matched but did not use its strategy fails too.
//
//   tests/test_op_harness --gtest_filter='*/Conv_*'          one op, every strategy
//   tests/test_op_harness --gtest_filter='*_spill'           one strategy, every op
//   TEEINFER_OP_HARNESS_SEED=17 tests/test_op_harness ...    one seed
//   TEEINFER_OP_HARNESS_SEEDS=200 tests/test_op_harness      seeds 1..200 (the slow sweep)
//   TEEINFER_OP_HARNESS_VERBOSE=1 ...                        print every case, passed or not
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <set>

#include "op_harness/generators.h"
#include "op_harness/op_kinds.h"
#include "op_harness/reference.h"
#include "op_harness/strategies.h"

using namespace teeinfer;
using namespace teeinfer::op_harness;

namespace {

// Seeds per (op, strategy) in the quick run (ctest -L quick).
constexpr uint32_t kQuickSeeds = 8;

std::vector<uint32_t> seeds() {
  if (const char* one = std::getenv("TEEINFER_OP_HARNESS_SEED"))
    return {static_cast<uint32_t>(std::strtoul(one, nullptr, 10))};
  uint32_t n = kQuickSeeds;
  if (const char* count = std::getenv("TEEINFER_OP_HARNESS_SEEDS"))
    n = static_cast<uint32_t>(std::strtoul(count, nullptr, 10));
  std::vector<uint32_t> out;
  for (uint32_t s = 1; s <= n; ++s) out.push_back(s);
  return out;
}

struct Pair {
  OpVariant variant;
  Strategy strategy;
};

std::vector<Pair> applicable_pairs() {
  std::vector<Pair> out;
  for (const OpVariant& v : all_variants())
    for (Strategy s : kStrategies)
      if (not_applicable(v, s).empty()) out.push_back({v, s});
  return out;
}

void PrintTo(const Pair& p, std::ostream* os) {
  *os << p.variant.name << " under " << strategy_name(p.strategy);
}

class OpHarness : public ::testing::TestWithParam<Pair> {};

TEST_P(OpHarness, MatchesTheReferenceUsingTheStrategy) {
  const bool verbose = std::getenv("TEEINFER_OP_HARNESS_VERBOSE") != nullptr;
  for (uint32_t seed : seeds()) {
    CaseResult r = run_case(GetParam().variant, GetParam().strategy, seed);
    if (!r.failure.empty())
      ADD_FAILURE() << "FAILED: " << r.failure << "\n" << r.description;
    else if (verbose)
      std::cout << "passed: " << r.description << "\n";
  }
}

INSTANTIATE_TEST_SUITE_P(Sweep, OpHarness, ::testing::ValuesIn(applicable_pairs()),
                         [](const ::testing::TestParamInfo<Pair>& info) {
                           return info.param.variant.name + "_" + strategy_name(info.param.strategy);
                         });

// Every OpKind (and every kind of its Eltwise, Binary and Pool families) has a variant,
// a generator that makes a node of it, and a reference that computes it.
TEST(OpHarnessCoverage, EveryOpKindHasAGeneratorAndAReference) {
  std::vector<OpVariant> variants = all_variants();
  std::set<int> ops, eltwise, binary, pool;
  for (const OpVariant& v : variants) {
    std::mt19937 rng(1);
    OpCase c = generate_case(v, {}, rng);
    ASSERT_EQ(c.graph.nodes.size(), 1u) << v.name;
    const Node& n = c.graph.nodes[0];
    EXPECT_EQ(n.op, v.op) << v.name << ": the generator made a " << op_name(n.op);
    ops.insert(list_index(n.op));
    if (n.op == OpKind::kEltwise) eltwise.insert(list_index(std::get<EltwiseParams>(n.params).kind));
    if (n.op == OpKind::kBinary) binary.insert(list_index(std::get<BinaryParams>(n.params).kind));
    if (n.op == OpKind::kPool) pool.insert(list_index(std::get<PoolParams>(n.params).kind));
    EXPECT_NO_THROW(validate_graph(c.graph)) << v.name;
    EXPECT_EQ(reference_outputs(c.graph, c.inputs).size(), 1u) << v.name;
  }
  EXPECT_EQ(ops.size(), kOpKinds.size()) << "an OpKind without a generator";
  EXPECT_EQ(eltwise.size(), kEltwiseKinds.size()) << "an EltwiseKind without a generator";
  EXPECT_EQ(binary.size(), kBinaryKinds.size()) << "a BinaryKind without a generator";
  EXPECT_EQ(pool.size(), kPoolKinds.size()) << "a PoolKind without a generator";
}

// Every strategy applies to some op; the generic ones (resident, sealed, unmodified) to
// every op; every skip has its reason. Prints the table docs/op-harness.md shows.
TEST(OpHarnessCoverage, EveryStrategyIsUsedAndEverySkipIsExplained) {
  std::vector<OpVariant> variants = all_variants();
  std::cout << "| op |";
  for (Strategy s : kStrategies) std::cout << " " << strategy_name(s) << " |";
  std::cout << "\n";
  size_t cases = 0, pairs = 0;
  for (Strategy s : kStrategies) {
    size_t applies = 0;
    for (const OpVariant& v : variants) applies += not_applicable(v, s).empty();
    if (std::string why = unavailable_on_this_cpu(s); !why.empty())
      std::cout << strategy_name(s) << ": " << why << "\n";
    else
      EXPECT_GT(applies, 0u) << strategy_name(s) << " applies to no op";
    if (s == Strategy::kResident || s == Strategy::kSealed || s == Strategy::kUnmodified) {
      EXPECT_EQ(applies, variants.size()) << strategy_name(s);
    }
  }
  for (const OpVariant& v : variants) {
    std::cout << "| " << v.name << " |";
    for (Strategy s : kStrategies) {
      bool applies = not_applicable(v, s).empty();
      if (applies)
        std::cout << " " << seeds().size() << " |";
      else
        std::cout << " - |";
      pairs += applies;
      cases += applies ? seeds().size() : 0;
    }
    std::cout << "\n";
  }
  std::cout << variants.size() << " op variants, " << kStrategies.size() << " strategies, " << pairs
            << " (op, strategy) pairs, " << seeds().size() << " seeds each: " << cases << " cases\n";
}

// The reference itself, on cases small enough to work out by hand.
TEST(OpHarnessReference, HandComputedCases) {
  auto run = [](Graph& g, const std::vector<std::vector<float>>& inputs) { return reference_outputs(g, inputs)[0]; };
  {  // 1-D conv, kernel 2, stride 1, pad 1 begin, bias 0.5, then Relu: x = {1, 2, 3}, w = {1, -1}
    Graph g;
    ValueId x = g.add_value({"x", DType::kF32, {1, 1, 3}, false, {}});
    g.inputs = {x};
    float w[] = {1.f, -1.f}, b[] = {0.5f};
    Value wv{"w", DType::kF32, {1, 1, 2}, true, {}}, bv{"b", DType::kF32, {1}, true, {}};
    wv.data.assign(reinterpret_cast<uint8_t*>(w), reinterpret_cast<uint8_t*>(w + 2));
    bv.data.assign(reinterpret_cast<uint8_t*>(b), reinterpret_cast<uint8_t*>(b + 1));
    ConvParams p;
    p.kernel = {2}, p.strides = {1}, p.dilations = {1}, p.pads_begin = {1}, p.pads_end = {0};
    p.post_ops = {{EltwiseKind::kRelu, 0.f, 0.f}};
    Node n{"conv", "Conv", OpKind::kConv, {x, g.add_value(wv), g.add_value(bv)}, {}, p};
    n.outputs = {g.add_value({"y", DType::kF32, {1, 1, 3}, false, {}})};
    g.nodes = {n};
    g.outputs = n.outputs;
    // y[o] = x[o-1] - x[o] + 0.5: {-1 + 0.5, 1 - 2 + 0.5, 2 - 3 + 0.5} -> relu {0, 0, 0}; and
    // without relu {-0.5, -0.5, -0.5}.
    EXPECT_EQ(run(g, {{1.f, 2.f, 3.f}}).data, (std::vector<double>{0, 0, 0}));
    std::get<ConvParams>(g.nodes[0].params).post_ops.clear();
    EXPECT_EQ(run(g, {{1.f, 2.f, 3.f}}).data, (std::vector<double>{-0.5, -0.5, -0.5}));
  }
  {  // Average pool 1-D, kernel 3, pads 1/1: exclude padding {1.5, 2, 2.5}, include {1, 2, 5/3}
    Graph g;
    ValueId x = g.add_value({"x", DType::kF32, {1, 1, 3}, false, {}});
    g.inputs = {x};
    PoolParams p;
    p.kind = PoolKind::kAverage;
    p.kernel = {3}, p.strides = {1}, p.dilations = {1}, p.pads_begin = {1}, p.pads_end = {1};
    p.declared_pads_end = p.pads_end;
    Node n{"pool", "AveragePool", OpKind::kPool, {x}, {g.add_value({"y", DType::kF32, {1, 1, 3}, false, {}})}, p};
    g.nodes = {n};
    g.outputs = n.outputs;
    EXPECT_EQ(run(g, {{1.f, 2.f, 3.f}}).data, (std::vector<double>{1.5, 2, 2.5}));
    std::get<PoolParams>(g.nodes[0].params).count_include_pad = true;
    EXPECT_EQ(run(g, {{1.f, 2.f, 3.f}}).data, (std::vector<double>{1, 2, 5.0 / 3}));
  }
  {  // Gemm {1x2} x {2x1} (transB: B stored {1, 2}), alpha 2, prescaled C = 3: 2 * (1*3 + 2*4 + 3) = 28
    Graph g;
    ValueId a = g.add_value({"a", DType::kF32, {1, 2}, false, {}}),
            b = g.add_value({"b", DType::kF32, {1, 2}, false, {}}), c = g.add_value({"c", DType::kF32, {1}, false, {}});
    g.inputs = {a, b, c};
    GemmParams p;
    p.alpha = 2.f, p.beta = 5.f, p.trans_b = true, p.c_prescaled = true;
    Node n{"gemm", "Gemm", OpKind::kGemm, {a, b, c}, {g.add_value({"y", DType::kF32, {1, 1}, false, {}})}, p};
    g.nodes = {n};
    g.outputs = n.outputs;
    EXPECT_EQ(run(g, {{1.f, 2.f}, {3.f, 4.f}, {3.f}}).data, (std::vector<double>{28}));
    std::get<GemmParams>(g.nodes[0].params).c_prescaled = false;  // 2 * 11 + 5 * 3
    EXPECT_EQ(run(g, {{1.f, 2.f}, {3.f, 4.f}, {3.f}}).data, (std::vector<double>{37}));
  }
  {  // Softmax of {2, 2} over axis 0 (columns), and coerce_2d over axis 0 (all four)
    Graph g;
    ValueId x = g.add_value({"x", DType::kF32, {2, 2}, false, {}});
    g.inputs = {x};
    Node n{"softmax",
           "Softmax",
           OpKind::kSoftmax,
           {x},
           {g.add_value({"y", DType::kF32, {2, 2}, false, {}})},
           SoftmaxParams{0, false}};
    g.nodes = {n};
    g.outputs = n.outputs;
    std::vector<double> y = run(g, {{0.f, 0.f, 0.f, std::log(3.f)}}).data;
    EXPECT_NEAR(y[0], 0.5, 1e-12);
    EXPECT_NEAR(y[1], 0.25, 1e-7);
    EXPECT_NEAR(y[3], 0.75, 1e-7);
    std::get<SoftmaxParams>(g.nodes[0].params).coerce_2d = true;
    y = run(g, {{0.f, 0.f, 0.f, std::log(3.f)}}).data;
    EXPECT_NEAR(y[0], 1.0 / 6, 1e-7);
    EXPECT_NEAR(y[3], 0.5, 1e-7);
  }
  {  // ArgMax of {2, 3} rows {1, 3, 3} and {1, NaN, NaN}: ties and NaNs, first or last index
    Graph g;
    ValueId x = g.add_value({"x", DType::kF32, {2, 3}, false, {}});
    g.inputs = {x};
    Node n{"argmax",
           "ArgMax",
           OpKind::kArgMaxMin,
           {x},
           {g.add_value({"y", DType::kI64, {2}, false, {}})},
           ArgMaxMinParams{ArgKind::kMax, 1, false, false}};
    g.nodes = {n};
    g.outputs = n.outputs;
    const std::vector<float> in{1.f, 3.f, 3.f, 1.f, NAN, NAN};
    EXPECT_EQ(run(g, {in}).data, (std::vector<double>{1, 1}));
    std::get<ArgMaxMinParams>(g.nodes[0].params).select_last_index = true;
    EXPECT_EQ(run(g, {in}).data, (std::vector<double>{2, 2}));
    std::get<ArgMaxMinParams>(g.nodes[0].params).kind = ArgKind::kMin;  // a NaN wins for ArgMin too
    EXPECT_EQ(run(g, {in}).data, (std::vector<double>{0, 2}));
  }
  {  // LogSoftmax of {1, 2}: log(1/2) twice
    Graph g;
    ValueId x = g.add_value({"x", DType::kF32, {1, 2}, false, {}});
    g.inputs = {x};
    Node n{"log_softmax",
           "LogSoftmax",
           OpKind::kLogSoftmax,
           {x},
           {g.add_value({"y", DType::kF32, {1, 2}, false, {}})},
           LogSoftmaxParams{{1, false}}};
    g.nodes = {n};
    g.outputs = n.outputs;
    std::vector<double> y = run(g, {{5.f, 5.f}}).data;
    EXPECT_NEAR(y[0], std::log(0.5), 1e-12);
    EXPECT_NEAR(y[1], std::log(0.5), 1e-12);
  }
}

}  // namespace
