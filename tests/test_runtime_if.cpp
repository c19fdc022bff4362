// Control flow and bools computed at run time, which the ONNX backend tests do not reach
// (they bind every input but a float32 first one as a constant): If whose condition is
// computed at run time (both branches imported, a Where selecting each output), Cast to
// bool of a runtime tensor, and Not/And/Or/Xor on runtime masks.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

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
  DType dtype = DType::kF32;  // kBool: data holds 1 and 0, passed as bytes
};

// Imports, optimises and runs the model; returns its first output. `graph` and `stats`
// receive what was run.
OutputTensor run(const OnnxModelBuilder& b, const std::map<std::string, Input>& inputs, Graph* graph = nullptr,
                 PassStats* stats = nullptr) {
  ImportOptions opt;
  for (const auto& [name, in] : inputs) opt.input_dims[name] = in.dims;
  Graph g = import_onnx(b.bytes(), "test", opt);
  PassStats s = optimize_graph(g);
  NativePlatform platform;
  EnclaveSession session(g, platform);
  std::vector<TensorView> views;
  std::vector<std::vector<uint8_t>> bools;
  bools.reserve(inputs.size());
  for (ValueId id : g.inputs) {
    const Input& in = inputs.at(g.value(id).name);
    if (in.dtype == DType::kBool) {
      bools.emplace_back(in.data.begin(), in.data.end());
      views.push_back(TensorView{DType::kBool, in.dims, bools.back().data(), g.value(id).name});
    } else {
      views.push_back(TensorView{DType::kF32, in.dims, const_cast<float*>(in.data.data()), g.value(id).name});
    }
  }
  OutputTensor y = session.run(views).at(0);
  if (graph) *graph = std::move(g);
  if (stats) *stats = s;
  return y;
}

void expect_exact(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << i;
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5f * (1.f + std::fabs(want[i]))) << i;
}

// Sets branch `attr` ("then_branch"/"else_branch") of an If node.
void set_branch(onnx::NodeProto* node, const std::string& attr, const onnx::GraphProto& g) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(attr);
  a->set_type(onnx::AttributeProto::GRAPH);
  *a->mutable_g() = g;
}

// A one-node branch: op(inputs) -> output, which is the branch's output.
onnx::GraphProto branch(const std::string& name, const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& output) {
  onnx::GraphProto g;
  g.set_name(name);
  onnx::NodeProto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(name + "_" + op);
  for (const std::string& in : inputs) n->add_input(in);
  n->add_output(output);
  g.add_output()->set_name(output);
  return g;
}

// The openWakeWord head's form: the condition is Sigmoid(mean(x)) >= 0.5, cast to bool;
// then_branch computes from the outer input with an initializer of its own, else_branch
// passes an outer value through (Identity).
OnnxModelBuilder wake_word_like_model() {
  OnnxModelBuilder b(13);
  b.input("x", {1, 4});
  std::string half = b.constant<float>("half", {}, {0.5f});
  std::string one = b.constant<float>("one", {}, {1.f});
  b.node("ReduceMean", {"x"}, {"mean"}).ints("axes", {-1});
  b.node("Sigmoid", {"mean"}, {"p"});
  b.node("GreaterOrEqual", {"p", half}, {"ge"});
  b.node("Cast", {"ge"}, {"cond"}).i("to", onnx::TensorProto::BOOL);
  b.node("Sub", {"x", one}, {"x_minus_1"});
  onnx::GraphProto then_g = branch("then", "Mul", {"x", "two"}, "doubled");
  float two = 2.f;
  *then_g.add_initializer() = teeinfer::testing::tensor_proto("two", onnx::TensorProto::FLOAT, {},
                                                              std::string(reinterpret_cast<char*>(&two), 4));
  onnx::NodeProto* node = b.node("If", {"cond"}, {"y"}).proto();
  node->set_name("choose");
  set_branch(node, "then_branch", then_g);
  set_branch(node, "else_branch", branch("else", "Identity", {"x_minus_1"}, "passed"));
  b.output("y");
  return b;
}

TEST(RuntimeIf, SelectsTheBranchTheConditionComputedAtRunTimePicks) {
  OnnxModelBuilder b = wake_word_like_model();
  const std::vector<float> positive = {1.f, 2.f, -0.5f, 3.f}, negative = {-1.f, -2.f, 0.5f, -3.f};
  Graph g;
  PassStats stats;
  expect_near(run(b, {{"x", {{1, 4}, positive}}}, &g, &stats).data, {2.f, 4.f, -1.f, 6.f});
  expect_near(run(b, {{"x", {{1, 4}, negative}}}).data, {-2.f, -3.f, -0.5f, -4.f});
  // Both branches are in the graph (then_branch's node under its scoped name), selected
  // by a Where of the If, and the pass report says so.
  bool then_node = false, where = false;
  for (const Node& n : g.nodes) {
    then_node |= n.name == "choose/then/then_Mul";
    where |= n.onnx_op == "If" && n.op == OpKind::kWhere;
  }
  EXPECT_TRUE(then_node);
  EXPECT_TRUE(where);
  EXPECT_EQ(stats.runtime_if_outputs, 1);
  EXPECT_NE(describe(stats).find("1 If output selected at run time (both branches computed)"), std::string::npos)
      << describe(stats);
}

TEST(RuntimeIf, BranchesMayUseTheSameNamesAndNest) {
  // Both branches define "t" (each branch is its own scope); then_branch holds another If on
  // a second runtime condition. y = x > 0 ? (x > 5 ? x * 10 : -x) : x + 100, per whole tensor.
  OnnxModelBuilder b(13);
  b.input("x", {3});
  std::string zero = b.constant<float>("zero", {}, {0.f});
  std::string five = b.constant<float>("five", {}, {5.f});
  std::string ten = b.constant<float>("ten", {}, {10.f});
  std::string hundred = b.constant<float>("hundred", {}, {100.f});
  b.node("ReduceMin", {"x"}, {"lowest"}).i("keepdims", 0);
  b.node("Greater", {"lowest", zero}, {"positive"});
  b.node("Greater", {"lowest", five}, {"large"});
  onnx::GraphProto inner_then = branch("inner_then", "Mul", {"x", ten}, "t");
  onnx::GraphProto inner_else = branch("inner_else", "Neg", {"x"}, "t");
  onnx::GraphProto outer_then;
  outer_then.set_name("outer_then");
  onnx::NodeProto* inner = outer_then.add_node();
  inner->set_op_type("If");
  inner->set_name("inner");
  inner->add_input("large");
  inner->add_output("t");
  set_branch(inner, "then_branch", inner_then);
  set_branch(inner, "else_branch", inner_else);
  outer_then.add_output()->set_name("t");
  onnx::NodeProto* outer = b.node("If", {"positive"}, {"y"}).proto();
  outer->set_name("outer");
  set_branch(outer, "then_branch", outer_then);
  set_branch(outer, "else_branch", branch("outer_else", "Add", {"x", hundred}, "t"));
  b.output("y");
  expect_near(run(b, {{"x", {{3}, {6.f, 7.f, 8.f}}}}).data, {60.f, 70.f, 80.f});
  expect_near(run(b, {{"x", {{3}, {1.f, 7.f, 8.f}}}}).data, {-1.f, -7.f, -8.f});
  expect_near(run(b, {{"x", {{3}, {-1.f, 7.f, 8.f}}}}).data, {99.f, 107.f, 108.f});
}

TEST(RuntimeIf, ConditionOfHigherRankAndBoolGraphInputs) {
  // A {1, 1} condition for outputs of rank 1 (reshaped, not broadcast to {1, 3}); and a
  // bool graph input as the condition.
  OnnxModelBuilder b(13);
  b.input("x", {3});
  b.input("flag", {1, 1}, onnx::TensorProto::BOOL);
  onnx::NodeProto* node = b.node("If", {"flag"}, {"y"}).proto();
  node->set_name("choose");
  set_branch(node, "then_branch", branch("then", "Neg", {"x"}, "t"));
  set_branch(node, "else_branch", branch("else", "Abs", {"x"}, "e"));
  b.output("y");
  const std::vector<float> x = {-1.f, 2.f, -3.f};
  OutputTensor yes = run(b, {{"x", {{3}, x}}, {"flag", {{1, 1}, {1.f}, DType::kBool}}});
  EXPECT_EQ(yes.dims, (Dims{3}));
  expect_exact(yes.data, {1.f, -2.f, 3.f});
  expect_exact(run(b, {{"x", {{3}, x}}, {"flag", {{1, 1}, {0.f}, DType::kBool}}}).data, {1.f, 2.f, 3.f});
}

TEST(RuntimeIf, BranchOutputsOfDifferentDimsAreRefused) {
  OnnxModelBuilder b(13);
  b.input("x", {2, 3});
  std::string zero = b.constant<float>("zero", {}, {0.f});
  b.node("ReduceMax", {"x"}, {"m"}).i("keepdims", 0);
  b.node("Less", {"m", zero}, {"c"});
  onnx::NodeProto* node = b.node("If", {"c"}, {"y"}).proto();
  node->set_name("choose");
  set_branch(node, "then_branch", branch("then", "Neg", {"x"}, "t"));
  onnx::GraphProto else_g = branch("else", "ReduceSum", {"x"}, "e");
  onnx::AttributeProto* keep = else_g.mutable_node(0)->add_attribute();
  keep->set_name("keepdims");
  keep->set_type(onnx::AttributeProto::INT);
  keep->set_i(0);
  set_branch(node, "else_branch", else_g);
  b.output("y");
  ImportOptions opt;
  opt.input_dims["x"] = {2, 3};
  try {
    import_onnx(b.bytes(), "test", opt);
    ADD_FAILURE() << "branch outputs of different dims were imported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    const std::string what = e.what();
    EXPECT_NE(what.find("If node 'choose'"), std::string::npos) << what;
    EXPECT_NE(what.find("{2,3}"), std::string::npos) << what;
    EXPECT_NE(what.find("{}"), std::string::npos) << what;
  }
}

TEST(RuntimeIf, ABranchsValuesAreSeenOutsideOnlyThroughItsOutputs) {
  // then_branch computes "inner" and outputs "t"; a node after the If reading "inner" reads
  // a name the outer graph never defines.
  OnnxModelBuilder b(13);
  b.input("x", {2});
  std::string zero = b.constant<float>("zero", {}, {0.f});
  b.node("ReduceSum", {"x"}, {"s"}).i("keepdims", 0);
  b.node("Greater", {"s", zero}, {"c"});
  onnx::GraphProto then_g = branch("then", "Neg", {"x"}, "inner");
  onnx::NodeProto* relu = then_g.add_node();
  relu->set_op_type("Relu");
  relu->add_input("inner");
  relu->add_output("t");
  then_g.mutable_output(0)->set_name("t");
  onnx::NodeProto* node = b.node("If", {"c"}, {"y"}).proto();
  node->set_name("choose");
  set_branch(node, "then_branch", then_g);
  set_branch(node, "else_branch", branch("else", "Abs", {"x"}, "t"));
  b.node("Add", {"y", "inner"}, {"z"});
  b.output("z");
  ImportOptions opt;
  opt.input_dims["x"] = {2};
  try {
    import_onnx(b.bytes(), "test", opt);
    ADD_FAILURE() << "a branch's inner value was read outside the If";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadModel) << e.what();
    EXPECT_NE(std::string(e.what()).find("'inner'"), std::string::npos) << e.what();
  }
}

TEST(RuntimeBools, CastToBoolIsNonZeroWithNanTrue) {
  OnnxModelBuilder b(13);
  b.input("x", {8});
  b.node("Cast", {"x"}, {"m"}).i("to", onnx::TensorProto::BOOL);
  b.node("Cast", {"m"}, {"y"}).i("to", onnx::TensorProto::FLOAT);
  b.output("y");
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  Graph g;
  expect_exact(run(b, {{"x", {{8}, {0.f, -0.f, -2.f, 3.5f, nan, inf, -inf, 1e-30f}}}}, &g).data,
               {0.f, 0.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f});
  // A mask cast to bool or to an integer type is itself: no node.
  OnnxModelBuilder c(13);
  c.input("x", {4});
  std::string one = c.constant<float>("one", {}, {1.f});
  c.node("Greater", {"x", one}, {"m"});
  c.node("Cast", {"m"}, {"b"}).i("to", onnx::TensorProto::BOOL);
  c.node("Cast", {"b"}, {"i"}).i("to", onnx::TensorProto::INT64);
  c.node("Cast", {"i"}, {"y"}).i("to", onnx::TensorProto::FLOAT);
  c.output("y");
  Graph h;
  expect_exact(run(c, {{"x", {{4}, {0.f, 1.f, 2.f, 3.f}}}}, &h).data, {0.f, 0.f, 1.f, 1.f});
  for (const Node& n : h.nodes) EXPECT_NE(n.onnx_op, "Cast") << n.name;
  // A runtime float32 that is not a bool still cannot become an integer at run time.
  OnnxModelBuilder d(13);
  d.input("x", {4});
  d.node("Cast", {"x"}, {"y"}).i("to", onnx::TensorProto::INT64);
  d.output("y");
  ImportOptions opt;
  opt.input_dims["x"] = {4};
  EXPECT_THROW(import_onnx(d.bytes(), "test", opt), Error);
}

TEST(RuntimeBools, NotAndOrXorOnMasks) {
  // a = x > 0, b = x < 2 over x = {-1, 1, 3}: a = {0, 1, 1}, b = {1, 1, 0}.
  struct Case {
    const char* op;
    std::vector<float> want;
  };
  const Case cases[] = {
      {"Not", {1.f, 0.f, 0.f}}, {"And", {0.f, 1.f, 0.f}}, {"Or", {1.f, 1.f, 1.f}}, {"Xor", {1.f, 0.f, 1.f}}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    OnnxModelBuilder b(13);
    b.input("x", {3});
    std::string zero = b.constant<float>("zero", {}, {0.f});
    std::string two = b.constant<float>("two", {}, {2.f});
    b.node("Greater", {"x", zero}, {"a"});
    b.node("Less", {"x", two}, {"b"});
    if (std::string(c.op) == "Not")
      b.node("Not", {"a"}, {"m"});
    else
      b.node(c.op, {"a", "b"}, {"m"});
    b.node("Cast", {"m"}, {"y"}).i("to", onnx::TensorProto::FLOAT);
    b.output("y");
    expect_exact(run(b, {{"x", {{3}, {-1.f, 1.f, 3.f}}}}).data, c.want);
  }
  // With a constant bool operand, broadcast.
  OnnxModelBuilder b(13);
  b.input("x", {2, 2});
  std::string zero = b.constant<float>("zero", {}, {0.f});
  std::string row = b.initializer("row", onnx::TensorProto::BOOL, {2}, std::string("\x01\x00", 2));
  b.node("Greater", {"x", zero}, {"a"});
  b.node("Xor", {"a", row}, {"m"});
  b.node("Cast", {"m"}, {"y"}).i("to", onnx::TensorProto::FLOAT);
  b.output("y");
  expect_exact(run(b, {{"x", {{2, 2}, {1.f, 1.f, -1.f, -1.f}}}}).data, {0.f, 1.f, 1.f, 0.f});
}

}  // namespace
