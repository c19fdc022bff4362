// Hostile ONNX models (issue 13): every one is rejected with a clear teeinfer::Error or
// imports, in memory and from every CLI command under a 4 GiB address-space limit and a
// time limit; never a crash, an over-read, undefined behaviour, an internal error or an
// allocation the model's size does not justify. The models are built in code
// (onnx_builder.h); each test names the defect it guards against.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>

#include "cli_runner.h"
#include "common/error.h"
#include "common/shape_inference.h"
#include "host/constant_folder.h"
#include "host/model_loader.h"
#include "host/onnx_attrs.h"
#include "host/pruning/channel_pruner.h"
#include "host/pruning/mean_shift.h"
#include "onnx_builder.h"

// GCC 12 reports false -Wrestrict overlaps in inlined std::string concatenations at -O2.
#pragma GCC diagnostic ignored "-Wrestrict"

using namespace teeinfer;
using namespace teeinfer::testing;

namespace {

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

const std::vector<HostileModel>& catalogue() {
  static const std::vector<HostileModel> models = hostile_models();
  return models;
}

const HostileModel& model_named(const std::string& name) {
  for (const HostileModel& m : catalogue())
    if (m.name == name) return m;
  throw std::runtime_error("no hostile model " + name);
}

// What `plan`/`pack`/`run` do with an ONNX file, from its bytes: import for the declared
// input dims, graph passes, validation.
Graph load(const HostileModel& m, uint64_t max_memory = 0) {
  OnnxModel model = OnnxModel::from_bytes(m.bytes, m.name);
  return load_onnx_model(model, {{m.input, m.input_dims}}, nullptr, max_memory);
}

// The Error `load` throws (failing the test when it throws anything else or nothing).
Error load_error(const HostileModel& m, uint64_t max_memory = 0) {
  try {
    load(m, max_memory);
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << m.name << ": not a teeinfer::Error: " << e.what();
    return Error(ErrorCode::kKernel, "");
  }
  ADD_FAILURE() << m.name << ": imported";
  return Error(ErrorCode::kKernel, "");
}

void expect_rejected(const std::string& name, const std::string& expect, uint64_t max_memory = 0) {
  Error e = load_error(model_named(name), max_memory);
  EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << name << ": " << e.what();
}

// --- Constant folding validates its inputs as shape inference does (items 1-3).

TEST(HostileFolding, ConcatOfConstantsWithDifferentOffAxisDimsIsRejected) {
  // Was: a heap-buffer-overflow WRITE folding {1,3} ++ {1,64} ("malloc(): corrupted top size").
  expect_rejected("concat_non_axis_dims_differ", "differ off the axis");
  expect_rejected("concat_rank_differs", "differs in type or rank");
  expect_rejected("concat_dims_sum_overflows", "exceeds 2^62");
}

TEST(HostileFolding, TransposeNeedsAPermutation) {
  // Was: perm [1,1] read past the input and the heap bytes became the model's output.
  expect_rejected("transpose_repeated_perm", "is not a permutation");
  expect_rejected("transpose_runtime_repeated_perm", "not a permutation");
}

TEST(HostileFolding, ConstantOfShapeNeedsExactlyOneValue) {
  // Was: SIGSEGV copying the fill value out of an empty tensor.
  expect_rejected("constant_of_shape_empty_value", "exactly one element");
  expect_rejected("constant_of_shape_two_values", "exactly one element");
}

TEST(HostileFolding, GatherChecksIndexTypeAndRange) {
  expect_rejected("gather_float_indices", "indices must be int64 or int32");
  expect_rejected("gather_index_out_of_range", "out of range");
}

TEST(HostileFolding, SliceRejectsZeroStepsAndRepeatedAxes) {
  expect_rejected("slice_zero_step", "step 0");
  expect_rejected("slice_repeated_axis", "repeated axis");
}

TEST(HostileFolding, ShapeOperandsMustBeShortIntegerLists) {
  expect_rejected("reshape_float_shape", "must be int64");
  expect_rejected("unsqueeze_huge_rank", "at most 32");
  expect_rejected("initializer_huge_rank", "at most 32");
  expect_rejected("dropout_empty_training_mode", "training_mode");  // was: std::out_of_range, exit 3
}

// fold_node on constants built here: `inputs` are the node's inputs in order.
std::vector<Value> fold(const std::string& op, const std::vector<Value>& inputs,
                        const std::function<void(OnnxNodeBuilder&)>& attrs = {}) {
  onnx::NodeProto node;
  node.set_op_type(op);
  node.set_name(op);
  node.add_output("out");
  std::vector<const Value*> in;
  for (const Value& v : inputs) {
    node.add_input(v.name);
    in.push_back(&v);
  }
  OnnxNodeBuilder b(&node);
  if (attrs) attrs(b);
  MemoryBudget budget(uint64_t{64} << 20);
  return fold_node(node, in, 13, budget);
}

template <class T>
Value constant(const std::string& name, Dims dims, const std::vector<T>& v) {
  Value c;
  c.name = name;
  c.dtype = std::is_same_v<T, float> ? DType::kF32 : std::is_same_v<T, int64_t> ? DType::kI64 : DType::kI32;
  c.dims = std::move(dims);
  c.is_constant = true;
  c.data.resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(c.data.data(), v.data(), c.data.size());
  return c;
}

template <class T>
std::vector<T> values(const Value& v) {
  std::vector<T> out(v.data.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), v.data.data(), v.data.size());
  return out;
}

TEST(HostileFolding, IntegerArithmeticWrapsWithoutUndefinedBehaviour) {
  // Was: signed overflow (UBSan) and SIGFPE for INT64_MIN / -1.
  Value a = constant<int64_t>("a", {3}, {kI64Max, kI64Min, kI64Min});
  Value b = constant<int64_t>("b", {3}, {1, -1, -1});
  EXPECT_EQ(values<int64_t>(fold("Add", {a, b})[0]), (std::vector<int64_t>{kI64Min, kI64Max, kI64Max}));
  EXPECT_EQ(values<int64_t>(fold("Sub", {a, b})[0]), (std::vector<int64_t>{kI64Max - 1, kI64Min + 1, kI64Min + 1}));
  EXPECT_EQ(values<int64_t>(fold("Mul", {a, a})[0]), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(values<int64_t>(fold("Div", {a, b})[0]), (std::vector<int64_t>{kI64Max, kI64Min, kI64Min}));
  Value i = constant<int32_t>("i", {1}, {std::numeric_limits<int32_t>::min()});
  Value m = constant<int32_t>("m", {1}, {-1});
  EXPECT_EQ(values<int32_t>(fold("Div", {i, m})[0])[0], std::numeric_limits<int32_t>::min());
  Value zero = constant<int64_t>("z", {1}, {0});
  EXPECT_THROW(fold("Div", {a, zero}), Error);
  // Broadcasting walks both operands' strides: {2,1} x {3}.
  Value col = constant<int64_t>("col", {2, 1}, {10, 20}), row = constant<int64_t>("row", {3}, {1, 2, 3});
  EXPECT_EQ(values<int64_t>(fold("Add", {col, row})[0]), (std::vector<int64_t>{11, 12, 13, 21, 22, 23}));
}

TEST(HostileFolding, CastSaturatesAndNanIsZero) {
  // Was: float -> int casts of NaN and out-of-range values (undefined behaviour).
  Value f = constant<float>("f", {4}, {std::numeric_limits<float>::quiet_NaN(), 1e30f, -1e30f, -2.5f});
  auto to = [&](int type) { return fold("Cast", {f}, [&](OnnxNodeBuilder& b) { b.i("to", type); })[0]; };
  EXPECT_EQ(values<int64_t>(to(onnx::TensorProto::INT64)), (std::vector<int64_t>{0, kI64Max, kI64Min, -2}));
  EXPECT_EQ(values<int32_t>(to(onnx::TensorProto::INT32)),
            (std::vector<int32_t>{0, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min(), -2}));
  EXPECT_EQ(values<uint8_t>(to(onnx::TensorProto::UINT8)), (std::vector<uint8_t>{0, 255, 0, 0}));
  // Integers convert exactly, not through double: 2^53 + 1 survives int64 -> int64.
  Value big = constant<int64_t>("big", {1}, {(int64_t{1} << 53) + 1});
  EXPECT_EQ(values<int64_t>(fold("Cast", {big}, [](OnnxNodeBuilder& b) { b.i("to", onnx::TensorProto::INT64); })[0]),
            (std::vector<int64_t>{(int64_t{1} << 53) + 1}));
  EXPECT_THROW(fold("Cast", {f}, [](OnnxNodeBuilder& b) { b.i("to", 999); }), Error);
}

TEST(HostileFolding, SliceClampsExtremeStartsEndsAndSteps) {
  // Was: (e - b + step - 1) overflowed for steps near INT64_MAX.
  Value a = constant<float>("a", {5}, {0, 1, 2, 3, 4});
  auto slice = [&](int64_t start, int64_t end, int64_t step) {
    return values<float>(fold("Slice", {a, constant<int64_t>("s", {1}, {start}), constant<int64_t>("e", {1}, {end}),
                                        constant<int64_t>("x", {1}, {0}), constant<int64_t>("p", {1}, {step})})[0]);
  };
  EXPECT_EQ(slice(kI64Min, kI64Max, kI64Max), (std::vector<float>{0}));
  EXPECT_EQ(slice(kI64Max, kI64Min, kI64Min), (std::vector<float>{4}));
  EXPECT_EQ(slice(kI64Max, kI64Min, -1), (std::vector<float>{4, 3, 2, 1, 0}));
  EXPECT_EQ(slice(-100, kI64Min, -1), (std::vector<float>{0}));  // ONNX: the start clamps to 0
  EXPECT_EQ(slice(1, 100, 2), (std::vector<float>{1, 3}));
  EXPECT_TRUE(slice(3, 1, 1).empty());
}

TEST(HostileFolding, ConstantBytesMustMatchTheirDims) {
  Value a = constant<float>("a", {4}, {1, 2, 3});  // 12 bytes for 4 elements
  EXPECT_THROW(fold("Reshape", {a, constant<int64_t>("s", {1}, {4})}), Error);
  EXPECT_THROW(fold("Transpose", {a}), Error);
  EXPECT_THROW(to_i64s(a), Error);
}

// --- Window attributes: checked before the importer divides or multiplies (item 3).

TEST(HostileImport, ZeroStridesAreRejectedBeforeAnyDivision) {
  // Was: SIGFPE computing SAME padding or ceil_mode output sizes.
  for (const char* name : {"conv_same_upper_zero_stride", "conv_same_lower_zero_stride", "maxpool_ceil_zero_stride",
                           "avgpool_same_zero_stride"})
    expect_rejected(name, "is out of range (1 to 2^20)");
}

TEST(HostileImport, WindowAttributesAreRangeCheckedNamingTheAttribute) {
  expect_rejected("conv_same_negative_stride", "strides[0] = -1");
  expect_rejected("conv_same_int64_min_stride", "strides[0]");
  expect_rejected("conv_same_huge_dilation", "dilations[0]");
  expect_rejected("conv_same_zero_dilation", "dilations[0] = 0");
  expect_rejected("conv_zero_kernel_shape", "kernel_shape[0] = 0");
  expect_rejected("conv_huge_kernel_shape", "kernel_shape[0]");
  expect_rejected("conv_negative_pads", "pads (begin)[0] = -1");
  expect_rejected("conv_huge_pads", "pads (begin)[0]");
  expect_rejected("conv_valid_huge_stride", "strides[0]");
  expect_rejected("conv_short_strides", "strides has 1 values");
  expect_rejected("maxpool_ceil_huge_pads", "pads (begin)[0]");
  expect_rejected("maxpool_ceil_huge_dilation", "dilations[0]");
  expect_rejected("avgpool_zero_kernel", "kernel_shape[0] = 0");
  expect_rejected("maxpool_negative_kernel", "kernel_shape[0] = -3");
  expect_rejected("conv_bad_auto_pad", "unknown auto_pad");
  for (const char* group : {"conv_group_zero", "conv_group_huge", "conv_group_negative"})
    expect_rejected(group, "do not match groups");
  expect_rejected("lrn_huge_size", "size");
  expect_rejected("pad_huge", "pads must be between 0 and 2^20");
}

TEST(HostileImport, EveryNameIsAssignedOnce) {
  expect_rejected("value_redefined", "defined twice");
}

// Nodes listed out of order (the spec says sorted; converters do not always comply, and
// ONNX Runtime sorts them) are imported in dependency order; a cycle is refused by name.
TEST(HostileImport, NodesOutOfOrderAreSortedAndCyclesRefused) {
  auto model = [](bool reversed, bool cycle) {
    OnnxModelBuilder b(13);
    b.input("x", {1, 2, 3, 3});
    std::vector<std::tuple<std::string, std::string, std::string>> nodes = {
        {"Relu", "x", "a"}, {"Sigmoid", cycle ? "c" : "a", "b"}, {"Neg", "b", "c"}};
    if (reversed) std::reverse(nodes.begin(), nodes.end());
    for (auto& [op, in, out] : nodes) b.node(op, {in}, {out}).proto()->set_name(op);
    b.output("c");
    return OnnxModel::from_bytes(b.bytes(), "order");
  };
  OnnxModel in_order = model(false, false), backwards = model(true, false), cyclic = model(true, true);
  Graph sorted = load_onnx_model(in_order, {{"x", {1, 2, 3, 3}}});
  Graph listed_backwards = load_onnx_model(backwards, {{"x", {1, 2, 3, 3}}});
  ASSERT_EQ(sorted.nodes.size(), 3u);
  ASSERT_EQ(listed_backwards.nodes.size(), sorted.nodes.size());
  for (size_t i = 0; i < sorted.nodes.size(); ++i) EXPECT_EQ(listed_backwards.nodes[i].name, sorted.nodes[i].name);
  try {
    load_onnx_model(cyclic, {{"x", {1, 2, 3, 3}}});
    ADD_FAILURE() << "a cycle was imported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadModel);
    EXPECT_NE(std::string(e.what()).find("cycle"), std::string::npos) << e.what();
  }
}

// If with a condition known at import imports the branch it selects in place: the branch
// reads an outer value (produced by a node listed after the If: the order follows what
// branches read too) and has an initializer of its own. A condition computed at run time
// (a bool input) imports both branches and a Where of the If selecting between them
// (tests/test_runtime_if.cpp runs them); a branch with the wrong number of outputs is a
// bad model.
TEST(HostileImport, IfWithAConditionKnownAtImportTakesItsBranch) {
  auto model = [](const std::string& cond_source, int then_outputs) {
    OnnxModelBuilder b(13);
    b.input("x", {1, 2, 2, 2});
    b.input("flag", {}, onnx::TensorProto::BOOL);
    if (cond_source != "flag") {
      onnx::TensorProto c = tensor_proto("c", onnx::TensorProto::BOOL, {}, std::string(1, cond_source == "true"));
      b.node("Constant", {}, {"cond"}).t("value", c);
    }
    auto branch = [&](const std::string& name, const std::string& op, int outputs) {
      onnx::GraphProto g;
      g.set_name(name);
      onnx::NodeProto* n = g.add_node();
      n->set_op_type(op);
      n->add_input("r");  // the outer scope's value
      n->add_output(name + "_y");
      for (int i = 0; i < outputs; ++i) g.add_output()->set_name(name + "_y");
      return g;
    };
    onnx::NodeProto* node = b.node("If", {cond_source == "flag" ? "flag" : "cond"}, {"y"}).proto();
    node->set_name("choose");
    for (auto [attr, g] : {std::pair{"then_branch", branch("then", "Neg", then_outputs)},
                           std::pair{"else_branch", branch("else", "Sigmoid", 1)}}) {
      onnx::AttributeProto* a = node->add_attribute();
      a->set_name(attr);
      a->set_type(onnx::AttributeProto::GRAPH);
      *a->mutable_g() = g;
    }
    b.node("Relu", {"x"}, {"r"});  // listed after the If that reads it
    b.output("y");
    return OnnxModel::from_bytes(b.bytes(), "if");
  };
  auto only_op = [](OnnxModel m) {
    Graph g = load_onnx_model(m, {{"x", {1, 2, 2, 2}}, {"flag", {}}});
    std::string ops;
    for (const Node& n : g.nodes) ops += n.onnx_op + " ";
    return ops;
  };
  EXPECT_EQ(only_op(model("true", 1)), "Relu Neg ");
  EXPECT_EQ(only_op(model("false", 1)), "Relu Sigmoid ");
  EXPECT_EQ(only_op(model("flag", 1)), "Relu Cast Neg Sigmoid If ");
  try {
    only_op(model("true", 2));
    ADD_FAILURE() << "a branch with two outputs for one was imported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadModel) << e.what();
  }
}

TEST(HostileImport, EmptyRuntimeTensorsAreRefused) {
  // Was: SIGFPE folding a BatchNorm into a Conv with 0 output channels.
  expect_rejected("zero_output_channels", "has no elements");
  expect_rejected("declared_input_empty", "has no elements");
}

TEST(HostileImport, ExternalDataAndInconsistentTensorsAreRefused) {
  expect_rejected("external_data", "external data");
  expect_rejected("raw_data_shorter_than_dims", "raw bytes");
  expect_rejected("initializer_negative_dim", "negative dimension");
  expect_rejected("initializer_absurd_dims", "absurdly large");
}

TEST(HostileImport, DeeplyNestedSubgraphsAreRejectedByTheParser) {
  Error e = load_error(model_named("nested_subgraphs"));
  EXPECT_NE(std::string(e.what()).find("not a valid ONNX model"), std::string::npos) << e.what();
}

// --- Limits before allocation (item 4).

TEST(HostileLimits, DefaultLimitIsEightTimesTheFileAtLeastOneGiB) {
  EXPECT_EQ(default_memory_limit(137), uint64_t{1} << 30);
  EXPECT_EQ(default_memory_limit(uint64_t{512} << 20), uint64_t{4} << 30);
  MemoryBudget b(1000);
  EXPECT_EQ(b.allocate(DType::kF32, {100}, "a"), 400u);
  EXPECT_THROW(b.check(DType::kF32, {251}, "b"), Error);
  EXPECT_EQ(b.allocate(DType::kF32, {150}, "c"), 600u);
  EXPECT_THROW(b.allocate(DType::kU8, {1}, "d"), Error) << "the total passes the limit";
  EXPECT_EQ(parse_max_memory(""), 0u);
  EXPECT_EQ(parse_max_memory("4GiB"), uint64_t{4} << 30);
  EXPECT_THROW(parse_max_memory("0"), Error);
  EXPECT_THROW(parse_max_memory("lots"), Error);
}

TEST(HostileLimits, TinyFileAskingForGigabytesIsRefusedBeforeAllocating) {
  // Was: a ~140-byte model made `plan` allocate 2 GiB (ConstantOfShape {1,1,23170,23170}).
  const HostileModel& m = model_named("constant_of_shape_2gb");
  EXPECT_LT(m.bytes.size(), 200u);
  Error e = load_error(m);
  EXPECT_EQ(e.code(), ErrorCode::kBudgetExceeded);
  EXPECT_NE(std::string(e.what()).find("tensor 'y' {1,1,23170,23170} needs 2.00 GiB"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("limit of 1.00 GiB"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("--max-memory"), std::string::npos) << e.what();
}

TEST(HostileLimits, DeclaredInputAboveTheLimitIsRefused) {
  Error e = load_error(model_named("declared_input_enormous"));
  EXPECT_EQ(e.code(), ErrorCode::kBudgetExceeded);
  EXPECT_NE(std::string(e.what()).find("tensor 'x' {1,3,100000,100000}"), std::string::npos) << e.what();
}

TEST(HostileLimits, FoldedConstantsCountTowardsOneTotal) {
  // Each constant alone fits; together they pass the limit. 64 MiB keeps the test fast.
  OnnxModelBuilder b(13);
  b.input("x", {1, 1, 4, 4});
  b.constant<int64_t>("s", {1}, {int64_t{1} << 22});  // 16 MiB of float zeros each
  std::vector<std::string> parts;
  for (int i = 0; i < 5; ++i) {
    parts.push_back("c" + std::to_string(i));
    b.node("ConstantOfShape", {"s"}, {parts.back()});
  }
  b.node("Concat", parts, {"y"}).i("axis", 0);
  b.output("y");
  HostileModel m{"sum", b.bytes(), "x", {1, 1, 4, 4}, ""};
  Error e = load_error(m, uint64_t{64} << 20);
  EXPECT_EQ(e.code(), ErrorCode::kBudgetExceeded);
  EXPECT_NE(std::string(e.what()).find("the model's constants reach"), std::string::npos) << e.what();
  expect_rejected("gather_many_indices", "--max-memory");
  expect_rejected("bool_output_becomes_float", "--max-memory", uint64_t{256} << 20);
}

// --- Shape arithmetic on huge dims never overflows (item 6).

TEST(HostileShapes, ElementCountBoundsNonZeroDimsAndRank) {
  EXPECT_EQ(element_count({0, int64_t{1} << 40}, "t"), 0);
  EXPECT_THROW(element_count({0, int64_t{1} << 40, int64_t{1} << 40}, "t"), Error)
      << "an empty tensor's other dims must still have a sane product (strides)";
  EXPECT_THROW(element_count({kI64Max, kI64Max, 0}, "t"), Error);
  EXPECT_THROW(element_count(Dims(33, 1), "t"), Error);
  EXPECT_EQ(element_count(Dims(32, 1), "t"), 1);
  for (const char* name :
       {"constant_of_shape_zero_times_huge", "flatten_zero_by_huge", "transpose_zero_by_huge", "reshape_zero_to_huge",
        "declared_input_zero_by_huge", "reshape_shape_overflows", "constant_of_shape_huge"})
    expect_rejected(name, "absurdly large");
}

TEST(HostileShapes, EmptyConstantsWithLargeDimsFoldWithoutLooping) {
  // Was: Gather over {2^40, 3, 0} looped 2^40 times copying nothing (a time-out).
  Value a;
  a.name = "a";
  a.dims = {int64_t{1} << 40, 3, 0};
  a.is_constant = true;
  std::vector<Value> out =
      fold("Gather", {a, constant<int64_t>("i", {1}, {1})}, [](OnnxNodeBuilder& b) { b.i("axis", 1); });
  EXPECT_EQ(out[0].dims, (Dims{int64_t{1} << 40, 1, 0}));
  EXPECT_EQ(fold("Concat", {a, a}, [](OnnxNodeBuilder& b) { b.i("axis", 2); })[0].dims, (Dims{int64_t{1} << 40, 3, 0}));
  // The model whose output is that empty tensor imports no further: outputs are not empty.
  expect_rejected("gather_zero_by_huge", "has no elements");
}

TEST(HostileShapes, WindowAndConcatArithmeticStaysInRange) {
  EXPECT_THROW(check_window_params("w", 1, {kI64Max}, {1}, {1}, {0}, {0}), Error);
  EXPECT_THROW(check_window_params("w", 1, {3}, {1}, {1}, {kI64Min}, {0}), Error);
  EXPECT_NO_THROW(check_window_params("w", 2, {3, 3}, {1, 2}, {1, 1}, {1, 1}, {1, 1}));
  EXPECT_EQ(window_output_size(kMaxDim, kMaxWindowParam, 1, kMaxWindowParam, kMaxWindowParam, kMaxWindowParam),
            kMaxDim + kMaxWindowParam + kMaxWindowParam - ((kMaxWindowParam - 1) * kMaxWindowParam + 1) + 1);
}

// --- Near-linear import and passes; nothing recursive.

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(HostileSpeed, TwoThousandLayerConvChainImportsAndOptimisesQuickly) {
  std::string bytes = conv_chain_model(2000, 8, 16);
  auto t0 = std::chrono::steady_clock::now();
  OnnxModel m = OnnxModel::from_bytes(bytes, "chain");
  PassStats stats;
  Graph g = load_onnx_model(m, {{"x", {1, 8, 16, 16}}}, &stats);
  double s = seconds_since(t0);
  EXPECT_EQ(g.nodes.size(), 2000u);
  EXPECT_EQ(stats.activations_fused, 2000);
  // Linear work is well under 0.1 s here (Release); a quadratic pass takes seconds.
  EXPECT_LT(s, 5.0) << "import + graph passes of 2,000 layers";
  RecordProperty("seconds", std::to_string(s));
}

TEST(HostileSpeed, LongChainsAndManyOutputsImport) {
  Graph chain = load(model_named("deep_relu_chain"));
  EXPECT_EQ(chain.nodes.size(), 2000u);
  Graph outputs = load(model_named("many_outputs"));
  EXPECT_EQ(outputs.outputs.size(), 3000u);
}

// --- The channel pruner on hostile models.

TEST(HostilePrune, ChannelFanOutIsTracedWithinALimit) {
  // 2^24 paths through Concats of a tensor with itself: was exponential time.
  HostileModel m = prune_fanout_model(24);
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(m.bytes));
  auto t0 = std::chrono::steady_clock::now();
  PruneReport r = select_channels(proto, ChannelSelection{});
  EXPECT_LT(seconds_since(t0), 30.0);
  ASSERT_EQ(r.units.size(), 1u);
  EXPECT_FALSE(r.units[0].prunable);
  EXPECT_NE(r.units[0].kept_because.find("too many nodes"), std::string::npos) << r.units[0].kept_because;
}

TEST(HostilePrune, ModelsOnnxShapeInferenceCrashesOnArePrunedOrRefused) {
  // Found by fuzz_onnx_import: select_channels ran ONNX's shape inference, which
  // dereferenced null on this model (SIGSEGV in onnx::convPoolShapeInference). The pruner
  // now takes every tensor's dims from teeinfer's own checked import.
  const HostileModel& m = model_named("prune_onnx_shape_inference_crash");
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(m.bytes));
  try {
    PruneReport r = select_channels(proto, ChannelSelection{Grouping::kLayer, 0.5});
    remove_channels(proto, r);
  } catch (const Error&) {
  }
}

// The k-th nearest distance by brute force.
double naive_bandwidth(std::vector<double> x, double quantile) {
  size_t k = std::max<size_t>(1, static_cast<size_t>(static_cast<double>(x.size()) * quantile));
  double total = 0;
  for (double p : x) {
    std::vector<double> d;
    for (double q : x) d.push_back(std::fabs(p - q));
    std::nth_element(d.begin(), d.begin() + static_cast<long>(k - 1), d.end());
    total += d[k - 1];
  }
  return total / static_cast<double>(x.size());
}

TEST(HostilePrune, BandwidthEstimateIsExactAndNLogN) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<double> x(1 + rng() % 60);
    for (double& v : x) v = trial % 3 ? u(rng) : std::floor(u(rng) * 5);  // some with ties
    for (double q : {0.05, 0.3, 0.5, 1.0}) EXPECT_DOUBLE_EQ(estimate_bandwidth(x, q), naive_bandwidth(x, q));
  }
  // Was O(n * k): a million channels took hours.
  std::vector<double> big(1000000);
  for (double& v : big) v = u(rng);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_GT(estimate_bandwidth(big, 0.3), 0.0);
  EXPECT_LT(seconds_since(t0), 30.0);
}

TEST(HostilePrune, ManyChannelsAreClusteredOrKeptWholeInBoundedTime) {
  HostileModel m = prune_many_channels_model(int64_t{1} << 17);
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(m.bytes));
  auto t0 = std::chrono::steady_clock::now();
  PruneReport r = select_channels(proto, ChannelSelection{});
  EXPECT_LT(seconds_since(t0), 30.0);
  ASSERT_EQ(r.units.size(), 1u);
  EXPECT_TRUE(r.units[0].prunable) << r.units[0].kept_because;
  EXPECT_GT(r.units[0].bandwidth, 0.0);
}

// --- Everything, in memory: clean outcomes only, with the expected message.

TEST(HostileImport, EveryCatalogueModelEndsCleanly) {
  for (const HostileModel& m : catalogue()) {
    try {
      load(m, uint64_t{256} << 20);
      EXPECT_TRUE(m.expect.empty()) << m.name << " imported; expected an error with '" << m.expect << "'";
    } catch (const Error& e) {
      if (!m.expect.empty() && m.expect != "--max-memory") {
        EXPECT_NE(std::string(e.what()).find(m.expect), std::string::npos)
            << m.name << ": '" << e.what() << "' lacks '" << m.expect << "'";
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << m.name << ": not a teeinfer::Error: " << e.what();
    }
  }
}

// --- The CLI under the acceptance limits: 4 GiB of address space, 60 s.

#if defined(TEEINFER_ADDRESS_SANITIZER)
constexpr bool kAddressSanitizer = true;  // its shadow memory needs far more than 4 GiB of address space
#else
constexpr bool kAddressSanitizer = false;
#endif

struct Outcome {
  int exit_code;
  std::string stderr_text;
};

// Runs teeinfer with `args` under `ulimit -v 4 GiB` and `timeout 60`; stdout is dropped.
Outcome run_limited(const std::string& args) {
  std::string limit = kAddressSanitizer ? "" : "ulimit -v 4194304; ";
  std::string cmd = "sh -c '" + limit + "exec timeout 60 " + std::string(TEEINFER_BINARY_DIR) + "/teeinfer " + args +
                    "' 2>&1 >/dev/null";
  Outcome o{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return o;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) o.stderr_text.append(buf, n);
  int status = pclose(p);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return o;
}

class HostileCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One directory per process: ctest runs each TEST as its own process, in parallel.
    dir_ = std::string(TEEINFER_BINARY_DIR) + "/tests/tmp_hostile_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
    ASSERT_EQ(run_cli("keygen -o " + dir_ + "/k.bin").exit_code, 0);
    // A {1,1,4,4} float32 .npy: the input most catalogue models declare.
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 4, 4), }";
    header.resize(128 - 10 - 1, ' ');  // the data starts 64-byte aligned
    header += '\n';
    std::string npy = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(header.size()) + '\0' + header;
    std::vector<float> x(16, 0.5f);
    npy.append(reinterpret_cast<const char*>(x.data()), 64);
    std::ofstream(dir_ + "/x.npy", std::ios::binary) << npy;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  static std::string write(const HostileModel& m) {
    std::string path = dir_ + "/" + m.name + ".onnx";
    std::ofstream(path, std::ios::binary) << m.bytes;
    return path;
  }
  // Every command on `path` ends with exit 0 or 1 and at most a one-line message.
  static void expect_clean(const std::string& path, const std::string& name, const std::string& extra = "") {
    std::string out = dir_ + "/out";
    for (const std::string& args :
         {"plan " + path, "pack " + path + " -o " + out + ".tee --key " + dir_ + "/k.bin --quiet",
          "prune " + path + " -o " + out + ".onnx",
          "run " + path + " --input " + dir_ + "/x.npy --repeat 1 --warmup 0"}) {
      Outcome o = run_limited(args + extra);
      EXPECT_TRUE(o.exit_code == 0 || o.exit_code == 1) << name << ": " << args << ": exit " << o.exit_code << "\n"
                                                        << o.stderr_text;
      size_t lines = std::count(o.stderr_text.begin(), o.stderr_text.end(), '\n');
      EXPECT_EQ(lines, o.exit_code == 0 ? 0u : 1u) << name << ": " << args << "\n" << o.stderr_text;
      EXPECT_EQ(o.stderr_text.find("internal error"), std::string::npos) << name << ": " << o.stderr_text;
    }
  }
  static std::string dir_;
};
std::string HostileCli::dir_;

TEST_F(HostileCli, EveryCommandEndsCleanlyOnEveryCatalogueModel) {
  // A 256 MiB limit keeps the models that are only refused for their size quick.
  ASSERT_EQ(run_cli("run " + write(model_named("output_is_input")) + " --input " + dir_ + "/x.npy").exit_code, 0)
      << "the sweep's input must be readable";
  for (const HostileModel& m : catalogue()) expect_clean(write(m), m.name, " --max-memory 256MiB");
  for (const HostileModel& m : {prune_fanout_model(22), prune_many_channels_model(1 << 16)})
    expect_clean(write(m), m.name);
}

TEST_F(HostileCli, DefaultLimitRefusesHugeConstantsAndInputsInOneLine) {
  for (const char* name : {"constant_of_shape_2gb", "declared_input_enormous"}) {
    std::string path = write(model_named(name));
    Outcome o = run_limited("plan " + path);
    EXPECT_EQ(o.exit_code, 1) << o.stderr_text;
    EXPECT_NE(o.stderr_text.find("teeinfer: budget exceeded: tensor '"), std::string::npos) << o.stderr_text;
    EXPECT_NE(o.stderr_text.find("--max-memory"), std::string::npos) << o.stderr_text;
  }
  // `run` decodes an image into the declared input dims: refused before decoding.
  std::string path = write(model_named("declared_input_enormous"));
  Outcome o = run_limited("run " + path + " --input " + std::string(TEEINFER_SOURCE_DIR) + "/tests/data/shirt.png");
  EXPECT_EQ(o.exit_code, 1) << o.stderr_text;
  EXPECT_NE(o.stderr_text.find("the model input {1,3,100000,100000} is larger than an image input may be"),
            std::string::npos)
      << o.stderr_text;
}

TEST_F(HostileCli, NamesFromTheModelCannotSplitTheErrorLineOrReachTheTerminal) {
  Outcome o = run_limited("plan " + write(model_named("control_characters_in_names")));
  EXPECT_EQ(o.exit_code, 1) << o.stderr_text;
  EXPECT_EQ(std::count(o.stderr_text.begin(), o.stderr_text.end(), '\n'), 1) << o.stderr_text;
  EXPECT_EQ(o.stderr_text.find('\x1b'), std::string::npos) << o.stderr_text;
  EXPECT_NE(o.stderr_text.find("Conv node 'evil\\nname\\x1b[2J'"), std::string::npos) << o.stderr_text;
}

TEST_F(HostileCli, MaxMemoryIsAnOptionOfEveryModelCommand) {
  std::string vgg = std::string(TEEINFER_SOURCE_DIR) + "/models/fmnist_vgg.onnx";
  Outcome small = run_limited("plan " + vgg + " --max-memory 64KiB");
  EXPECT_EQ(small.exit_code, 1) << small.stderr_text;
  EXPECT_NE(small.stderr_text.find("more than the host memory limit of 64.0 KiB"), std::string::npos)
      << small.stderr_text;
  EXPECT_EQ(run_limited("plan " + vgg + " --max-memory 64MiB").exit_code, 0);
  Outcome zero = run_limited("plan " + vgg + " --max-memory 0");
  EXPECT_EQ(zero.exit_code, 1);
  EXPECT_NE(zero.stderr_text.find("--max-memory"), std::string::npos) << zero.stderr_text;
  for (const char* cmd : {"run", "eval", "pack", "prune", "plan"})
    EXPECT_NE(run_cli(std::string(cmd) + " --help").output.find("--max-memory"), std::string::npos) << cmd;
}

TEST_F(HostileCli, OutOfMemoryIsAOneLineErrorNotAnInternalOne) {
  if (kAddressSanitizer) GTEST_SKIP() << "needs the address-space limit";
  // A limit far above what the process may map: the allocation itself fails.
  OnnxModelBuilder b(13);
  b.input("x", {1, 1, 4, 4});
  b.constant<int64_t>("s", {1}, {int64_t{3} << 30});  // 12 GiB of zeros
  b.node("ConstantOfShape", {"s"}, {"y"});
  b.output("y");
  std::string path = write({"oom", b.bytes(), "x", {1, 1, 4, 4}, ""});
  Outcome o = run_limited("plan " + path + " --max-memory 64GiB");
  EXPECT_EQ(o.exit_code, 1) << o.stderr_text;
  EXPECT_EQ(o.stderr_text.find("teeinfer: out of memory: "), 0u) << o.stderr_text;
  EXPECT_EQ(std::count(o.stderr_text.begin(), o.stderr_text.end(), '\n'), 1) << o.stderr_text;
}

}  // namespace
